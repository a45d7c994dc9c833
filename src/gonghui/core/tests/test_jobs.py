"""The worker's lanes: a slow job in one lane must not hold back another lane's jobs."""

from __future__ import annotations

import threading
import time

import pytest

from gonghui.core import jobs


@pytest.fixture
def own_jobs(monkeypatch):
    monkeypatch.setattr(jobs, "JOBS", {})
    return jobs.JOBS


def test_a_slow_job_does_not_hold_back_another_lane(own_jobs):
    release = threading.Event()
    sweep_started = threading.Event()
    folds: list[float] = []

    def slow_sweep() -> None:
        sweep_started.set()
        release.wait(10)

    jobs.register_periodic("sweep", slow_sweep, every_seconds=300)
    jobs.register_periodic(
        "fold", lambda: folds.append(time.monotonic()), every_seconds=0.01, lane="rollups"
    )
    assert jobs.lanes() == ["default", "rollups"]

    stop = threading.Event()
    server = threading.Thread(target=jobs.serve, args=(stop,), kwargs={"tick": 0.01})
    server.start()
    try:
        assert sweep_started.wait(5)
        deadline = time.monotonic() + 5
        while len(folds) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The sweep is still running, and the fold lane went on meanwhile.
        assert not release.is_set()
        assert len(folds) >= 5
    finally:
        release.set()
        stop.set()
        server.join(10)
    assert not server.is_alive()


def test_run_due_by_lane_and_failures_are_contained(own_jobs):
    ran: list[str] = []

    def failing() -> None:
        raise RuntimeError("boom")

    jobs.register_periodic("a", lambda: ran.append("a"), every_seconds=60)
    jobs.register_periodic("b", lambda: ran.append("b"), every_seconds=60, lane="rollups")
    jobs.register_periodic("c", failing, every_seconds=60, lane="rollups")

    assert jobs.run_due(now=100.0, lane="rollups") == ["b", "c"]
    assert ran == ["b"]
    # Not due again before its period, even after failing.
    assert jobs.run_due(now=130.0, lane="rollups") == []
    assert jobs.run_due(now=130.0) == ["a"]
    assert jobs.run_due(now=161.0, lane="rollups") == ["b", "c"]


def test_the_fold_has_a_lane_of_its_own():
    from gonghui.stats.services import fold_and_tidy

    fold = jobs.JOBS["fold_rollups"]
    assert fold.run is fold_and_tidy
    others = [job for job in jobs.JOBS.values() if job.name != "fold_rollups"]
    assert others and all(job.lane != fold.lane for job in others)
