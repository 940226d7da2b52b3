"""All of brownout's addons around one shared state, in hook order."""

from __future__ import annotations

from brownout.admin import AdminServer
from brownout.config import Config
from brownout.injector import Injector
from brownout.observer import ClientObserver
from brownout.recorder import Recorder
from brownout.router import Router
from brownout.state import Brownout


def make_addons(state: Brownout | None = None) -> list[object]:
    state = state or Brownout()
    # Router first (it fixes the upstream and provider), the Injector before the observers (they
    # see what it did to the flow).
    return [Config(state), Router(state), Injector(state), ClientObserver(state), Recorder(state), AdminServer(state)]
