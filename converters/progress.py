"""Pipeline stages -> what the person (or the batch script) watching a run sees while it works.

The pipeline calls `progress.stage("map SDTM")` as each stage starts and `progress.done()` at the end.
Three renderings, chosen by `make_progress`:
- on a terminal: a rich status line per stage (spinner, stage, elapsed), each finished stage left as one
  line with its time, all within 80 columns;
- `--log-format json`: one JSON object per line and event ({"event": "stage", "stage": ..., "t": ...});
- not a terminal, or `--quiet`: nothing.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

WIDTH = 80


class Progress:
    """Silent: the base every rendering extends (and what batch workers and the API use)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.current: str | None = None
        self.since = self.started

    def stage(self, name: str, **fields: Any) -> None:
        self._finish()
        self.current, self.since = name, time.monotonic()
        self._begin(name, fields)

    def event(self, name: str, **fields: Any) -> None:
        """A one-off event (a study of a batch finished, ...)."""

    def done(self, **fields: Any) -> None:
        self._finish()
        self.current = None

    def _finish(self) -> None:
        if self.current is not None:
            self._end(self.current, time.monotonic() - self.since)

    def _begin(self, name: str, fields: dict[str, Any]) -> None:
        pass

    def _end(self, name: str, seconds: float) -> None:
        pass


class JsonLog(Progress):
    """One JSON line per event on `stream` (stderr by default), for batch scripts."""

    def __init__(self, stream: TextIO, run: str = "") -> None:
        super().__init__()
        self.stream, self.run = stream, run

    def _write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "t": round(time.monotonic() - self.started, 3), **({"run": self.run} if self.run else {}),
                  **fields}
        self.stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.stream.flush()

    def _begin(self, name: str, fields: dict[str, Any]) -> None:
        self._write("stage", stage=name, **fields)

    def _end(self, name: str, seconds: float) -> None:
        self._write("stage-done", stage=name, seconds=round(seconds, 3))

    def event(self, name: str, **fields: Any) -> None:
        self._write(name, **fields)

    def done(self, **fields: Any) -> None:
        super().done()
        self._write("done", seconds=round(time.monotonic() - self.started, 3), **fields)


def fit(text: str, width: int = WIDTH) -> str:
    """One line of at most `width` characters (shortened in the middle: paths keep both ends)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    keep = width - 3
    return text[: keep // 2] + "..." + text[len(text) - (keep - keep // 2):]


class Terminal(Progress):
    """rich: a live spinner line for the stage running, a finished line per stage (80 columns)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console(file=stream, width=min(WIDTH, Console(file=stream).width), highlight=False)
        self.status: Any = None

    def _begin(self, name: str, fields: dict[str, Any]) -> None:
        detail = " ".join(f"{v}" for v in fields.values())
        self.status = self.console.status(fit(f"{name} {detail}".strip(), WIDTH - 4))
        self.status.start()

    def _end(self, name: str, seconds: float) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        self.console.print(fit(f"  {name:<60} {seconds:8.1f} s"), markup=False)

    def event(self, name: str, **fields: Any) -> None:
        detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items())
        self.console.print(fit(f"{name}: {detail}" if detail else name), markup=False)


def make_progress(quiet: bool = False, log_format: str = "text", stream: TextIO | None = None) -> Progress:
    """The rendering for these options: JSON lines, a terminal display (only on a TTY), or silence."""
    stream = stream or sys.stderr
    if log_format == "json":
        return JsonLog(stream)
    if quiet or not getattr(stream, "isatty", lambda: False)():
        return Progress()
    return Terminal(stream)
