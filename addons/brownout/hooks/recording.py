"""`brownout_record` (`brownout run --record FILE`): the run's record as JSON lines on disk, so a
report can be made after the proxy has stopped (`brownout report FILE`).

The event loop never writes: each line goes into a queue that a thread of this addon drains
to the file, flushing at least once a second and when the proxy stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import IO

from brownout.engine.state import Brownout

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


class RecordWriter:
    """Appends lines to a file from a thread of its own."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._file.write(header + "\n")
        self._thread = threading.Thread(target=self._drain, name="brownout-record", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        self._lines.put(line)

    def _drain(self) -> None:
        while True:
            try:
                line = self._lines.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                self._file.flush()
                continue
            if line is None:
                break
            self._file.write(line + "\n")
        self._file.flush()
        self._file.close()

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join(timeout=10)


class Recording:
    def __init__(self, state: Brownout) -> None:
        self.state = state
        self.writer: RecordWriter | None = None

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "brownout_record",
            str,
            "",
            "Write the run's record (attempts and client events as JSON lines, no keys, no prompts) to this file.",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx
        from mitmproxy import exceptions

        if "brownout_record" not in updated:
            return
        self._close()
        target = ctx.options.brownout_record
        if not target:
            return
        record = self.state.record
        try:
            self.writer = RecordWriter(Path(target), record.header())
        except OSError as exc:
            raise exceptions.OptionsError(f"brownout_record: cannot write {target}: {exc.strerror or exc}") from exc
        for line in list(record.lines())[1:]:  # what happened before the option was set
            self.writer.put(line)
        record.sink = self.writer.put
        log.info("brownout: recording the run to %s", target)

    def done(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.writer is not None:
            self.state.record.sink = None
            self.writer.close()
            self.writer = None
