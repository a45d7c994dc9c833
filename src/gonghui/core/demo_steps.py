"""Steps other apps add to the demo.

The demo builder (`orgs.demo`) builds the union tree, its members and the demo accounts;
a domain app that wants something in the demo (a notice going down the tree, activities,
...) registers a step in its AppConfig.ready(). The builder runs the steps in order after
the tree and the accounts, before the figures are rebuilt, so `orgs` never imports them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoContext:
    root: Any  # the root Org of the demo tree
    seed: int
    scale: str  # tiny, small or sichuan
    today: datetime.date  # the build day: the demo's dates are relative to it
    progress: Callable[[str], None] | None = None

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


@dataclass(frozen=True)
class DemoStep:
    name: str
    fn: Callable[[DemoContext], None]
    order: int


_steps: dict[str, DemoStep] = {}


def register_demo_step(name: str, fn: Callable[[DemoContext], None], order: int = 100) -> None:
    """Add (or, under the same name, replace) a step; lower `order` runs first."""
    _steps[name] = DemoStep(name, fn, order)


def demo_steps() -> list[DemoStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


def run_demo_steps(context: DemoContext) -> list[str]:
    """Run every registered step; returns their names in the order run."""
    done = []
    for step in demo_steps():
        step.fn(context)
        done.append(step.name)
    return done
