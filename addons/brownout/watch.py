"""Hot reload: scenario files are watched, and an edit applies while traffic flows.

A valid edit replaces the running version within a fraction of a second (an active scenario
stays on, its timeline keeps its clock). An invalid edit changes nothing that runs: the error
goes to the log, to `/api/status` (and `brownout ctl status`) and to the metrics
`brownout_scenario_reload_errors_total` and `brownout_scenario_file_ok`.

Watched: the library directory (every `*.yaml`, `*.yml`, `*.json` in it, new ones included)
and each file named in `brownout_scenarios`. watchfiles (inotify and friends, in Rust) does
the watching; its loop is started from a synchronous `running()` and stopped in `done()`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from brownout import control
from brownout.scenario import ScenarioError
from brownout.state import Brownout
from brownout.state import library_dir
from brownout.state import library_files
from brownout.state import resolve_scenario_ref

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
# Editors write a file in several steps; changes this close together are applied once.
DEBOUNCE_MS = 150


class ScenarioWatcher:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.files: dict[Path, str] = {}  # resolved file -> the name it is reported under
        self.dirs: dict[Path, Path] = {}  # resolved library directory -> as given
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._running = False

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_watch",
            bool,
            True,
            "Reload scenario files (the library and brownout_scenarios) when they change.",
        )

    def configure(self, updated: set[str]) -> None:
        if updated & {"brownout_scenarios", "brownout_library", "brownout_watch"}:
            self._plan()
            if self._running:
                self._restart()

    def running(self) -> None:
        self._running = True
        self._restart()

    def done(self) -> None:
        self._running = False
        self._halt()

    # -- what to watch

    def _plan(self) -> None:
        from mitmproxy import ctx

        library = ctx.options.brownout_library
        directory = Path(library) if library else library_dir()
        self.dirs = {directory.resolve(): directory} if directory.is_dir() else {}
        self.files = {}
        for path in library_files(directory):
            self.files[path.resolve()] = str(path)
        for ref in ctx.options.brownout_scenarios:
            try:
                path = resolve_scenario_ref(ref, directory)
            except ScenarioError:
                continue  # Config has refused it already
            self.files[path.resolve()] = str(path)
        for label in self.files.values():
            self.state.control.file_ok.labels(file=label).set(0 if label in self.state.file_errors else 1)

    def wanted(self, path: Path) -> bool:
        resolved = path.resolve()
        if resolved in self.files:
            return True
        return resolved.parent in self.dirs and resolved.suffix in SUFFIXES

    def label(self, path: Path) -> str:
        resolved = path.resolve()
        label = self.files.get(resolved)
        if label is None:
            label = str(self.dirs.get(resolved.parent, resolved.parent) / resolved.name)
            self.files[resolved] = label
        return label

    # -- applying changes

    def apply(self, path: Path) -> None:
        """Bring a changed file's scenario up to date (what changed is read from the disk)."""
        if not self.wanted(path):
            return
        label = self.label(path)
        if not path.exists():
            scenario = control.scenario_from_file(self.state, path)
            if scenario is not None:
                log.warning("brownout: %s was deleted; scenario %s stays loaded as it was", label, scenario.name)
            return
        control.reload_file(self.state, path, label)

    # -- the watch loop

    def _restart(self) -> None:
        from mitmproxy import ctx

        self._halt()
        if not ctx.options.brownout_watch:
            return
        roots = sorted({*self.dirs, *(path.parent for path in self.files)})
        roots = [root for root in roots if root.is_dir()]
        if not roots:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._watch(roots, self._stop))

    def _halt(self) -> None:
        if self._stop is not None:
            self._stop.set()  # ends watchfiles' thread within one step
            self._stop = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self, roots: list[Path], stop: asyncio.Event) -> None:
        try:
            async for changes in awatch(
                *roots,
                watch_filter=lambda _, raw: self.wanted(Path(raw)),
                debounce=DEBOUNCE_MS,
                step=50,
                stop_event=stop,
                recursive=False,
            ):
                for raw in sorted({raw for _, raw in changes}):
                    try:
                        self.apply(Path(raw))
                    except Exception:
                        log.exception("brownout: could not apply a change to %s", raw)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("brownout: watching scenario files stopped")
