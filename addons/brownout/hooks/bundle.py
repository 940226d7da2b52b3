"""All of brownout's addons around one shared state, in hook order, as one mitmproxy addon."""

from __future__ import annotations

from brownout.engine.state import Brownout
from brownout.hooks.admin import AdminServer
from brownout.hooks.commands import Commands
from brownout.hooks.connections import Connections
from brownout.hooks.drain import Drain
from brownout.hooks.faultlog import FaultLog
from brownout.hooks.fleet import Fleet
from brownout.hooks.h2c import PriorKnowledgeH2
from brownout.hooks.injector import Injector
from brownout.hooks.observer import ClientObserver
from brownout.hooks.options import Config
from brownout.hooks.phases import PhaseAnnouncer
from brownout.hooks.recorder import Recorder
from brownout.hooks.recording import Recording
from brownout.hooks.router import Router
from brownout.hooks.streams import Streams
from brownout.hooks.upstream_errors import UpstreamErrors
from brownout.hooks.upstream_timeouts import UpstreamTimeouts
from brownout.hooks.watch import ScenarioWatcher


def make_addons(state: Brownout | None = None) -> list[object]:
    state = state or Brownout()
    # Router first (it fixes the upstream and provider); Streams after the Injector (it relays the
    # stream plan the Injector's fault armed); the observer and the Recorder after them (they see
    # what the faults did to the flow, the Recorder last of the flow hooks). Fleet before Config:
    # the switches Config makes at start are then shared.
    return [
        PriorKnowledgeH2(),
        Fleet(state),
        Config(state),
        Router(state),
        Connections(state),
        UpstreamErrors(state),
        UpstreamTimeouts(state),
        Injector(state),
        Streams(state),
        ClientObserver(state),
        Recorder(state),
        Recording(state),
        Drain(state),
        FaultLog(state),
        AdminServer(state),
        Commands(state),
        ScenarioWatcher(state),
        PhaseAnnouncer(state),
    ]


class Bundle:
    """brownout's addons as a single entry in mitmproxy's addon chain.

    mitmproxy dispatches every event (several per flow) to each entry of its chain in turn, with
    a coroutine and an error guard per entry; as children of one entry, the addons below cost
    one dispatch per event instead of ten, which is most of what brownout adds to a flow.
    """

    def __init__(self, state: Brownout | None = None) -> None:
        self.state = state or Brownout()
        self.addons = make_addons(self.state)
