from collections.abc import Callable
from pathlib import Path

import pytest
from mitmproxy.test import taddons

from brownout.engine.state import Brownout
from brownout.hooks.options import Config
from brownout.hooks.watch import ScenarioWatcher


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    library = tmp_path / "library"
    library.mkdir()
    (library / "lib-one.yaml").write_text("rules:\n  - fault: {type: reset}\n")
    elsewhere = tmp_path / "project"
    elsewhere.mkdir()
    (elsewhere / "mine.yaml").write_text("rules:\n  - fault: {type: error, status: 503}\n")
    (elsewhere / "docker-compose.yaml").write_text("services: {}\n")
    return library, elsewhere


async def test_watches_the_library_and_the_named_files_only(dirs: tuple[Path, Path]) -> None:
    library, elsewhere = dirs
    state = Brownout()
    config, watcher = Config(state), ScenarioWatcher(state)
    with taddons.context(config, watcher) as tctx:
        tctx.configure(config, brownout_library=str(library), brownout_scenarios=[str(elsewhere / "mine.yaml")])
        tctx.configure(watcher, brownout_library=str(library), brownout_scenarios=[str(elsewhere / "mine.yaml")])
        assert watcher.wanted(elsewhere / "mine.yaml")
        assert not watcher.wanted(elsewhere / "docker-compose.yaml")  # a sibling of a named file is no scenario
        assert watcher.wanted(library / "new.yml") and not watcher.wanted(library / "notes.txt")
        assert watcher.label(library / "new.yml") == str(library / "new.yml")
        registry = state.metrics.registry
        assert registry.get_sample_value("brownout_scenario_file_ok", {"file": str(elsewhere / "mine.yaml")}) == 1

        (library / "new.yml").write_text("rules:\n  - fault: {type: timeout}\n")
        await watcher.apply(library / "new.yml")
        assert "new" in state.engine.scenarios and not state.engine.is_active("new")

        (elsewhere / "docker-compose.yaml").write_text("services: {web: {}}\n")
        await watcher.apply(elsewhere / "docker-compose.yaml")
        assert "docker-compose" not in state.engine.scenarios and state.file_errors == {}


async def test_a_deleted_file_leaves_its_scenario_running(
    dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    library, elsewhere = dirs
    state = Brownout()
    config, watcher = Config(state), ScenarioWatcher(state)
    mine = str(elsewhere / "mine.yaml")
    with taddons.context(config, watcher) as tctx:
        tctx.configure(config, brownout_library=str(library), brownout_scenarios=[mine])
        tctx.configure(watcher, brownout_library=str(library), brownout_scenarios=[mine])
        (elsewhere / "mine.yaml").unlink()
        await watcher.apply(elsewhere / "mine.yaml")
    assert state.engine.active == ["mine"]
    assert "was deleted; scenario mine stays loaded as it was" in caplog.text


def kubelet_write(directory: Path, version: int, files: dict[str, str]) -> None:
    """What the kubelet does to a mounted ConfigMap: a new timestamped directory, `..data` swapped
    to it atomically, a `name -> ..data/name` symlink per key, the old directory removed."""
    import os
    import shutil

    fresh = directory / f"..2026_01_01_00_00_00.{version:09d}"
    fresh.mkdir()
    for name, text in files.items():
        (fresh / name).write_text(text)
    (directory / "..data_tmp").symlink_to(fresh.name)
    os.replace(directory / "..data_tmp", directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")
    for old in directory.glob("..2026*"):
        if old != fresh:
            shutil.rmtree(old)


async def test_a_configmap_volume_update_is_applied(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap by swapping `..data`; the visible files never change."""
    import asyncio
    import time

    from brownout.cli.runner import ProxySettings
    from brownout.cli.runner import RunningProxy

    mounted = tmp_path / "scenarios"
    mounted.mkdir()
    kubelet_write(mounted, 1, {"outage.yaml": "description: v1\nrules:\n  - fault: {type: error, status: 503}\n"})
    settings = ProxySettings(port=0, admin_port=0, library=str(mounted), scenarios=["outage"], termlog=False)
    async with RunningProxy(settings) as proxy:
        state = proxy.state

        async def until(holds: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 5
            while not holds():
                assert time.monotonic() < deadline, what
                await asyncio.sleep(0.05)

        kubelet_write(
            mounted,
            2,
            {
                "outage.yaml": "description: v2\nrules:\n  - fault: {type: error, status: 500}\n",
                "added.yaml": "rules:\n  - fault: {type: reset}\n",
            },
        )
        await until(lambda: state.engine.scenarios["outage"].description == "v2", "the update was not applied")
        assert state.engine.is_active("outage")  # still on, as before the update
        await until(lambda: "added" in state.engine.scenarios, "a key added to the ConfigMap was not loaded")

        label = str(mounted / "outage.yaml")
        kubelet_write(mounted, 3, {"outage.yaml": "rules:\n  - fault: {type: error, status: 5000}\n", "added.yaml": ""})
        await until(lambda: label in state.file_errors, "the broken update was not reported")
        assert state.engine.scenarios["outage"].description == "v2"  # the last good version keeps running
        assert state.metrics.registry.get_sample_value("brownout_scenario_file_ok", {"file": label}) == 0


DEEP = "rules:\n  - fault: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n"
BOMB = (
    "rules:\n  - fault: {type: reset}\n"
    + 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 9))
)


@pytest.mark.parametrize("text", [DEEP, BOMB], ids=["deep", "alias-bomb"])
async def test_a_hostile_library_edit_is_reported_like_any_broken_edit(
    dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture, text: str
) -> None:
    library, _ = dirs
    state = Brownout()
    config, watcher = Config(state), ScenarioWatcher(state)
    label = str(library / "lib-one.yaml")
    with taddons.context(config, watcher) as tctx:
        tctx.configure(config, brownout_library=str(library), brownout_scenarios=["lib-one"])
        tctx.configure(watcher, brownout_library=str(library), brownout_scenarios=["lib-one"])
        (library / "lib-one.yaml").write_text(text)
        await watcher.apply(library / "lib-one.yaml")
    assert f"brownout: {label} not applied; the previous version keeps running" in caplog.text
    assert "more than 10000 values" in state.file_errors[label] or "nested more than 32" in state.file_errors[label]
    assert "Traceback" not in caplog.text
    assert state.engine.active == ["lib-one"] and state.engine.scenarios["lib-one"].rules[0].fault.type_name == "reset"
    assert state.metrics.registry.get_sample_value("brownout_scenario_file_ok", {"file": label}) == 0


async def test_a_file_taking_a_name_already_used_is_refused_live(
    dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A third file with the name of the active scenario must not replace it behind the user's back."""
    library, _ = dirs
    state = Brownout()
    config, watcher = Config(state), ScenarioWatcher(state)
    with taddons.context(config, watcher) as tctx:
        tctx.configure(config, brownout_library=str(library), brownout_scenarios=["lib-one"])
        tctx.configure(watcher, brownout_library=str(library), brownout_scenarios=["lib-one"])
        third = library / "copy.yaml"
        third.write_text("name: lib-one\nrules:\n  - fault: {type: timeout}\n")
        await watcher.apply(third)
        assert state.engine.scenarios["lib-one"].source == str(library / "lib-one.yaml")
        assert state.engine.active == ["lib-one"]
        expected = (
            f"{third}:1: name: scenario 'lib-one' is also defined in {library / 'lib-one.yaml'}; one name, one file"
        )
        assert state.file_errors[str(third)].startswith(expected)
        assert expected in caplog.text
        # Renamed, it loads beside the other.
        third.write_text("name: lib-two\nrules:\n  - fault: {type: timeout}\n")
        await watcher.apply(third)
    assert set(state.engine.scenarios) == {"lib-one", "lib-two"} and state.file_errors == {}
