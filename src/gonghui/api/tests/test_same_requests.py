"""`lane.SameRequests`: identical requests in flight at once get the first one's answer;
each waiting one is served on its own when the first hands its request on, crashes or
takes too long."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from gonghui.api.lane import Answer, SameRequests


def wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "the waiting request never came"
        time.sleep(0.005)


def in_thread(function: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(function()))
    thread.start()
    return thread, out


class Gate:
    """A `serve` that blocks until released, counting its calls."""

    def __init__(self, answer: Answer | None = None, error: Exception | None = None) -> None:
        self.open = threading.Event()
        self.calls = 0
        self.answer = answer
        self.error = error

    def __call__(self) -> Answer | None:
        self.calls += 1
        assert self.open.wait(10)
        if self.error is not None:
            raise self.error
        return self.answer


def test_an_identical_request_in_flight_gets_the_first_answer():
    same = SameRequests()
    first = Gate(Answer(200, {"created": True}))
    leader, led = in_thread(lambda: same.answer(("key", 1), first))
    wait_for(lambda: first.calls == 1)
    follower, followed = in_thread(lambda: same.answer(("key", 1), Gate(Answer(500, {}))))
    wait_for(lambda: same.waiting() == 1)
    first.open.set()
    leader.join(10)
    follower.join(10)
    assert led == [(Answer(200, {"created": True}), False)]
    assert followed == [(Answer(200, {"created": True}), True)]  # not its own serve's 500
    assert first.calls == 1
    assert same.waiting() == 0
    # Once answered, the next identical request is served again.
    assert same.answer(("key", 1), lambda: Answer(200, {"created": False})) == (
        Answer(200, {"created": False}),
        False,
    )


def test_different_requests_do_not_wait_for_each_other():
    same = SameRequests()
    first = Gate(Answer(200, {"n": 1}))
    leader, _led = in_thread(lambda: same.answer(("key", 1), first))
    wait_for(lambda: first.calls == 1)
    assert same.answer(("key", 2), lambda: Answer(200, {"n": 2})) == (Answer(200, {"n": 2}), False)
    assert same.waiting() == 0
    first.open.set()
    leader.join(10)


@pytest.mark.parametrize(
    "first",
    [
        Gate(None),  # handed on to Django
        Gate(error=RuntimeError("database went away")),  # crashed
    ],
    ids=["handed-on", "crashed"],
)
def test_a_waiting_request_is_served_on_its_own_when_the_first_gives_no_answer(first):
    same = SameRequests()
    leader, led = in_thread(lambda: _swallow(lambda: same.answer("key", first)))
    wait_for(lambda: first.calls == 1)
    mine = Gate(Answer(200, {"mine": True}))
    mine.open.set()
    follower, followed = in_thread(lambda: same.answer("key", mine))
    wait_for(lambda: same.waiting() == 1)
    first.open.set()
    leader.join(10)
    follower.join(10)
    assert followed == [(Answer(200, {"mine": True}), False)]
    assert mine.calls == 1
    if first.error is not None:
        assert led == [first.error]  # the first's crash stays its own
    else:
        assert led == [(None, False)]


def test_a_waiting_request_is_served_on_its_own_after_waiting_too_long():
    same = SameRequests(wait_seconds=0.05)
    first = Gate(Answer(200, {"first": True}))
    leader, _led = in_thread(lambda: same.answer("key", first))
    wait_for(lambda: first.calls == 1)
    assert same.answer("key", lambda: Answer(200, {"mine": True})) == (
        Answer(200, {"mine": True}),
        False,
    )
    first.open.set()
    leader.join(10)


def _swallow(function: Any) -> Any:
    try:
        return function()
    except Exception as error:  # the crash is the result under test
        return error
