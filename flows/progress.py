"""What a run shows while it works: rich progress bars with counts on a terminal,
plain structured log lines (key=value) otherwise, e.g. under systemd or cron."""

from __future__ import annotations

import logging
import re
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

log = logging.getLogger("dibao.run")

STAGE_TITLES = {"load": "读取数据 load", "gate": "质量检查 gate", "link": "比对 link", "rules": "规则 rules",
                "reports": "清单 reports"}


class Reporter(Protocol):
    def start(self, stage: str, total: int | None = None) -> None: ...
    def advance(self, stage: str, detail: str = "", n: int = 1) -> None: ...
    def finish(self, stage: str, seconds: float, summary: str = "") -> None: ...
    def close(self) -> None: ...


class Silent:
    def start(self, stage: str, total: int | None = None) -> None:
        pass

    def advance(self, stage: str, detail: str = "", n: int = 1) -> None:
        pass

    def finish(self, stage: str, seconds: float, summary: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class LogLines(Silent):
    """One structured line per step: `stage=link event=item detail="pensions 8127 rows"`."""

    def start(self, stage: str, total: int | None = None) -> None:
        log.info("stage=%s event=start total=%s", stage, total if total is not None else "-")

    def advance(self, stage: str, detail: str = "", n: int = 1) -> None:
        log.info('stage=%s event=item detail="%s"', stage, detail)

    def finish(self, stage: str, seconds: float, summary: str = "") -> None:
        log.info('stage=%s event=done seconds=%.2f summary="%s"', stage, seconds, summary)


_DONE = re.compile(r"stage=(\w+) event=done seconds=([0-9.]+)")  # what `LogLines.finish` writes


def stage_seconds(lines: str) -> dict[str, float]:
    """Each stage's seconds, read back from `LogLines` output (e.g. `dibao run`'s log)."""
    return {name: float(seconds) for name, seconds in _DONE.findall(lines)}


class RichBars(Silent):
    """A bar per stage with the item being processed and its count."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                                 transient=False)
        self.tasks: dict[str, TaskID] = {}
        self.progress.start()

    def start(self, stage: str, total: int | None = None) -> None:
        self.tasks[stage] = self.progress.add_task(STAGE_TITLES.get(stage, stage), total=total, detail="")

    def advance(self, stage: str, detail: str = "", n: int = 1) -> None:
        if stage in self.tasks:
            self.progress.update(self.tasks[stage], advance=n, detail=detail)

    def finish(self, stage: str, seconds: float, summary: str = "") -> None:
        if stage in self.tasks:
            task = self.progress.tasks[self.tasks[stage]]
            self.progress.update(self.tasks[stage], total=task.total or task.completed or 1,
                                 completed=task.total or task.completed or 1, detail=f"{summary} ({seconds:.1f} s)")

    def close(self) -> None:
        self.progress.stop()


def reporter_for(console: Console) -> Reporter:
    """Bars on a terminal, log lines otherwise."""
    return RichBars(console) if console.is_terminal else LogLines()
