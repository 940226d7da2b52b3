"""The master `brownout run` builds: mitmproxy's proxy core and brownout, less what nothing can reach."""

from mitmproxy import addons

from brownout.cli.runner import UNREACHABLE_ADDONS
from brownout.cli.runner import ProxySettings
from brownout.cli.runner import RunningProxy
from brownout.cli.runner import build_master
from brownout.hooks.bundle import Bundle


def chain_names(settings: ProxySettings) -> list[str]:
    # mitmproxy's master takes the running event loop: callers are async tests.
    master, _ = build_master(settings)
    return [type(addon).__name__ for addon in master.addons.chain]


def test_every_left_out_addon_is_one_mitmproxy_has() -> None:
    defaults = {type(addon).__name__ for addon in addons.default_addons()}
    assert UNREACHABLE_ADDONS <= defaults, f"not among this mitmproxy's addons: {UNREACHABLE_ADDONS - defaults}"


async def test_the_proxy_keeps_its_core_and_loses_the_unreachable_addons() -> None:
    names = chain_names(ProxySettings(port=0, admin_port=0, termlog=False))
    for needed in ("Core", "Block", "Proxyserver", "NextLayer", "TlsConfig", "DnsResolver", "Onboarding"):
        assert needed in names
    assert not UNREACHABLE_ADDONS & set(names)
    assert names[-1] == Bundle.__name__  # brownout sees each event after mitmproxy's own addons
    assert "ErrorCheck" in names  # `brownout run` exits when start-up logged an error


async def test_an_embedded_proxy_has_no_error_check() -> None:
    settings = ProxySettings(port=0, admin_port=0, termlog=False, exit_on_startup_error=False)
    assert "ErrorCheck" not in chain_names(settings)


async def test_the_slim_master_starts_and_listens() -> None:
    async with RunningProxy(ProxySettings(port=0, admin_port=0, termlog=False)) as proxy:
        assert proxy.port > 0
