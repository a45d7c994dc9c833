"""Background work run by `gonghui worker`: jobs that recur every few seconds or minutes
(folding roll-ups, deadline sweeps, reminders). Apps register them in AppConfig.ready()."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("gonghui.worker")


@dataclass
class PeriodicJob:
    name: str
    run: Callable[[], object]
    every_seconds: float
    next_at: float = 0.0


JOBS: dict[str, PeriodicJob] = {}


def register_periodic(name: str, run: Callable[[], object], *, every_seconds: float) -> None:
    JOBS[name] = PeriodicJob(name, run, every_seconds)


def run_due(now: float | None = None) -> list[str]:
    """Run every job whose time has come; a failing job is logged and retried later."""
    now = time.monotonic() if now is None else now
    ran = []
    for job in JOBS.values():
        if now < job.next_at:
            continue
        try:
            job.run()
        except Exception:  # one job's failure must not stop the others
            log.exception("job %s failed", job.name)
        job.next_at = now + job.every_seconds
        ran.append(job.name)
    return ran
