"""Hot reload: scenario files are watched, and an edit applies while traffic flows.

A valid edit replaces the running version within a fraction of a second (an active scenario
stays on, its timeline keeps its clock). An invalid edit changes nothing that runs: the error
goes to the log, to `/api/status` (and `brownout ctl status`) and to the metrics
`brownout_scenario_reload_errors_total` and `brownout_scenario_file_ok`.

Watched: the library directory (every `*.yaml`, `*.yml`, `*.json` in it, new ones included)
and each file named in `brownout_scenarios`. watchfiles (inotify and friends, in Rust) does
the watching; its loop is started from a synchronous `running()` and stopped in `done()`.

A Kubernetes ConfigMap mounted as a directory is a set of symlinks through `..data`, which the
kubelet swaps atomically on an update: the visible files never change, `..data` does. A change
of `..data` therefore re-reads every scenario file of its directory.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from brownout.control import actions as control
from brownout.engine.state import Brownout
from brownout.scenario.library import SCENARIO_SUFFIXES
from brownout.scenario.library import library_dir
from brownout.scenario.library import library_files
from brownout.scenario.library import resolve_scenario_ref
from brownout.scenario.yaml_lines import ScenarioError

log = logging.getLogger(__name__)

# Editors write a file in several steps; changes this close together are applied once.
DEBOUNCE_MS = 150
# The kubelet's atomic writer: `name.yaml -> ..data/name.yaml`, `..data -> ..<timestamp>/`.
ATOMIC_DATA = "..data"


def visible(path: Path) -> Path:
    """A file as its directory shows it: the directory resolved, the name kept (it may be a symlink)."""
    return path.parent.resolve() / path.name


class ScenarioWatcher:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.files: dict[Path, str] = {}  # visible and resolved file -> the name it is reported under
        self.dirs: dict[Path, Path] = {}  # resolved library directory -> as given
        self.watched: list[Path] = []  # the directories the watch loop covers
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
        named = list(library_files(directory))
        for ref in ctx.options.brownout_scenarios:
            try:
                named.append(resolve_scenario_ref(ref, directory))
            except ScenarioError:
                continue  # Config has refused it already
        for path in named:
            # Known by where it shows and by what it points to (a symlink's target may be edited in place).
            self.files[visible(path)] = self.files[path.resolve()] = str(path)
        self.watched = self.roots()
        for label in set(self.files.values()):
            self.state.control.file_ok.labels(file=label).set(0 if label in self.state.file_errors else 1)

    def roots(self) -> list[Path]:
        """The directories to watch; never the kubelet's timestamped ones, which go with the next update."""
        found = {*self.dirs, *(path.parent for path in self.files)}
        return sorted(root for root in found if not root.name.startswith("..") and root.is_dir())

    def wanted(self, path: Path) -> bool:
        if path.name == ATOMIC_DATA:
            return path.parent.resolve() in self.watched
        shown = visible(path)
        if shown in self.files or path.resolve() in self.files:
            return True
        return shown.parent in self.dirs and shown.suffix in SCENARIO_SUFFIXES

    def label(self, path: Path) -> str:
        shown = visible(path)
        label = self.files.get(shown) or self.files.get(path.resolve())
        if label is None:
            label = str(self.dirs.get(shown.parent, shown.parent) / shown.name)
            self.files[shown] = label
        return label

    def swapped(self, data: Path) -> list[Path]:
        """The scenario files of a directory whose `..data` the kubelet just swapped, as they show."""
        self._plan()  # new files may have appeared with the update; targets have moved
        directory = data.parent.resolve()
        labels = {label for label in self.files.values() if visible(Path(label)).parent == directory}
        return [Path(label) for label in sorted(labels)]

    # -- applying changes

    async def apply(self, path: Path) -> None:
        """Bring a changed file's scenario up to date (what changed is read from the disk, in a
        thread: neither the read nor the parse holds up the proxy's loop)."""
        if not self.wanted(path):
            return
        label = self.label(path)
        if not path.exists():
            scenario = control.scenario_from_file(self.state, path)
            if scenario is not None:
                log.warning("brownout: %s was deleted; scenario %s stays loaded as it was", label, scenario.name)
            return
        read = await asyncio.to_thread(control.read_file, label)
        control.reload_file(self.state, path, label, read)

    # -- the watch loop

    def _restart(self) -> None:
        from mitmproxy import ctx

        self._halt()
        if not ctx.options.brownout_watch:
            return
        roots = self.watched = self.roots()
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
                changed: list[Path] = []
                for raw in sorted({raw for _, raw in changes}):
                    path = Path(raw)
                    changed.extend(self.swapped(path) if path.name == ATOMIC_DATA else [path])
                for path in dict.fromkeys(changed):
                    try:
                        await self.apply(path)
                    except Exception:
                        log.exception("brownout: could not apply a change to %s", path)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("brownout: watching scenario files stopped")
