"""One line per benchmark target: the measured figure, its target, and whether it holds.

Every benchmark prints its targets through `check`; `bench/run_all.py` prints the collected table at the end.
A ratio is always candidate / baseline measured in the same run (these machines are shared and noisy).
"""
from __future__ import annotations

from dataclasses import dataclass

RESULTS: list[Result] = []


@dataclass(frozen=True)
class Result:
    """One target: `value` compared with `target` (at most, or at least when `at_least`)."""

    name: str
    value: float
    target: float
    at_least: bool = False
    unit: str = "x"
    detail: str = ""

    @property
    def holds(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    def line(self) -> str:
        bound = ">=" if self.at_least else "<="
        verdict = "holds" if self.holds else "MISSED"
        detail = f"  ({self.detail})" if self.detail else ""
        return (f"{self.name:<52} {self.value:8.2f}{self.unit}  target {bound} {self.target:g}{self.unit}  "
                f"{verdict}{detail}")


def check(name: str, value: float, target: float, *, at_least: bool = False, unit: str = "x",
          detail: str = "") -> Result:
    """Record and print one target's outcome."""
    result = Result(name, value, target, at_least, unit, detail)
    RESULTS.append(result)
    print(result.line(), flush=True)
    return result


def summary() -> str:
    """The table of every target checked so far in this process."""
    held = sum(result.holds for result in RESULTS)
    lines = [result.line() for result in RESULTS]
    return "\n".join([*lines, f"{held} of {len(RESULTS)} targets hold"])
