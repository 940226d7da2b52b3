"""All of brownout's addons around one shared state, in hook order."""

from __future__ import annotations

from brownout.admin import AdminServer
from brownout.commands import Commands
from brownout.config import Config
from brownout.injector import Injector
from brownout.observer import ClientObserver
from brownout.phases import PhaseAnnouncer
from brownout.recorder import Recorder
from brownout.router import Router
from brownout.state import Brownout
from brownout.streams import Streams
from brownout.watch import ScenarioWatcher


def make_addons(state: Brownout | None = None) -> list[object]:
    state = state or Brownout()
    # Router first (it fixes the upstream and provider); Streams after the Injector (it relays the
    # stream plan the Injector's fault armed); the observer and the Recorder after them (they see
    # what the faults did to the flow, the Recorder last of the flow hooks).
    return [
        Config(state),
        Router(state),
        Injector(state),
        Streams(state),
        ClientObserver(state),
        Recorder(state),
        AdminServer(state),
        Commands(state),
        ScenarioWatcher(state),
        PhaseAnnouncer(state),
    ]
