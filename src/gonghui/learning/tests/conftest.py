"""Fixtures of the learning tests."""

from __future__ import annotations

import pytest

from gonghui.learning import selectors


@pytest.fixture(autouse=True)
def _fresh_leaderboards():
    # Leaderboards are cached for 2 s; a test must not see the board of the one before.
    selectors.forget_leaderboards()
    yield
    selectors.forget_leaderboards()
