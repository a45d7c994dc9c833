"""Background work run by `gonghui worker`: jobs that recur every few seconds or minutes
(folding roll-ups, deadline sweeps, reminders). Apps register them in AppConfig.ready().

Jobs run in lanes, one thread per lane, so that a long job in one lane (a province-wide
deadline sweep) never delays another lane's jobs (folding the figures every dashboard
reads). Each thread has its own database connection, as Django gives each thread one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections, connections

log = logging.getLogger("gonghui.worker")

DEFAULT_LANE = "default"


@dataclass
class PeriodicJob:
    name: str
    run: Callable[[], object]
    every_seconds: float
    lane: str = DEFAULT_LANE
    next_at: float = 0.0


JOBS: dict[str, PeriodicJob] = {}


def register_periodic(
    name: str, run: Callable[[], object], *, every_seconds: float, lane: str = DEFAULT_LANE
) -> None:
    JOBS[name] = PeriodicJob(name, run, every_seconds, lane)


def lanes() -> list[str]:
    return sorted({job.lane for job in JOBS.values()})


def run_due(now: float | None = None, *, lane: str | None = None) -> list[str]:
    """Run every job (of `lane`, or of all lanes) whose time has come; a failing job is
    logged and retried later."""
    now = time.monotonic() if now is None else now
    ran = []
    for job in list(JOBS.values()):
        if (lane is not None and job.lane != lane) or now < job.next_at:
            continue
        try:
            job.run()
        except Exception:  # one job's failure must not stop the others
            log.exception("job %s failed", job.name)
        job.next_at = now + job.every_seconds
        ran.append(job.name)
    return ran


def _run_lane(lane: str, stop: threading.Event, tick: float) -> None:
    try:
        while not stop.is_set():
            close_old_connections()  # a long-running thread must not keep dead ones
            run_due(lane=lane)
            stop.wait(tick)
    finally:
        connections.close_all()  # this thread's connections only


def serve(stop: threading.Event, *, tick: float = 1.0) -> None:
    """Run every lane in a thread of its own until `stop` is set, then wait for them."""
    threads = [
        threading.Thread(target=_run_lane, args=(lane, stop, tick), name=f"jobs-{lane}")
        for lane in lanes()
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
