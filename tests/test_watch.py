from pathlib import Path

import pytest
from mitmproxy.test import taddons

from brownout.config import Config
from brownout.state import Brownout
from brownout.watch import ScenarioWatcher


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


def test_watches_the_library_and_the_named_files_only(dirs: tuple[Path, Path]) -> None:
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
        watcher.apply(library / "new.yml")
        assert "new" in state.engine.scenarios and not state.engine.is_active("new")

        (elsewhere / "docker-compose.yaml").write_text("services: {web: {}}\n")
        watcher.apply(elsewhere / "docker-compose.yaml")
        assert "docker-compose" not in state.engine.scenarios and state.file_errors == {}


def test_a_deleted_file_leaves_its_scenario_running(dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    library, elsewhere = dirs
    state = Brownout()
    config, watcher = Config(state), ScenarioWatcher(state)
    mine = str(elsewhere / "mine.yaml")
    with taddons.context(config, watcher) as tctx:
        tctx.configure(config, brownout_library=str(library), brownout_scenarios=[mine])
        tctx.configure(watcher, brownout_library=str(library), brownout_scenarios=[mine])
        (elsewhere / "mine.yaml").unlink()
        watcher.apply(elsewhere / "mine.yaml")
    assert state.engine.active == ["mine"]
    assert "was deleted; scenario mine stays loaded as it was" in caplog.text
