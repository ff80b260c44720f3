"""The one verdict of every kind of run, and the checks behind it.

Each layer of a run adds :class:`Check` records (the LoadGen its performance rules and SUT failures, the harness
its accuracy, storage its rules and AU); nobody recomputes the verdict: :func:`judge` derives it from the checks
and from whether the run completed, and the CLI's exit code comes from it alone (:func:`exit_code`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


class Verdict(str, enum.Enum):
    VALID = "VALID"
    INVALID = "INVALID"
    INCOMPLETE = "INCOMPLETE"
    """Interrupted (or a part is missing): what was measured is kept, nothing is judged from it."""
    NOT_JUDGED = "NOT_JUDGED"
    """Nothing to judge: an accuracy pass without a quality target, for instance."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    """One rule a run was held to: passed or not, what was required and measured, and what to do about it."""

    name: str
    passed: bool
    expected: str = ""
    actual: str = ""
    recommendation: str = ""
    """The official tool's words, where it has them (the LoadGen's recommendations)."""
    advice: str = ""
    """mlmeter's concrete advice for a failed check."""
    decisive: bool = False
    """A failure of the system itself (a crashed SUT, a dead rank, failed accuracy): INVALID even if the run
    was also interrupted."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Check:
        return Check(str(d["name"]), bool(d["passed"]), str(d.get("expected", "")), str(d.get("actual", "")),
                     str(d.get("recommendation", "")), str(d.get("advice", "")), bool(d.get("decisive", False)))

    def reason(self) -> str:
        """One sentence for a failed check: the official words, else required vs measured."""
        if self.recommendation:
            return self.recommendation
        if self.expected:
            return f"{self.name}: required {self.expected}, measured {self.actual}"
        return self.actual or self.name


def failure(message: str, name: str = "sut") -> Check:
    """A decisive failed check: something the system under test (or a rank, or a file) did wrong."""
    return Check(name, False, "no failure", message, decisive=True)


def judge(checks: Iterable[Check], complete: bool = True) -> Verdict:
    """Any decisive failure: INVALID; else an incomplete run: INCOMPLETE; else any failure: INVALID; else
    VALID when something was checked, NOT_JUDGED when nothing was."""
    cs = list(checks)
    failed = [c for c in cs if not c.passed]
    if any(c.decisive for c in failed):
        return Verdict.INVALID
    if not complete:
        return Verdict.INCOMPLETE
    if failed:
        return Verdict.INVALID
    return Verdict.VALID if cs else Verdict.NOT_JUDGED


EXIT_CODES = {Verdict.VALID: 0, Verdict.NOT_JUDGED: 0, Verdict.INVALID: 1, Verdict.INCOMPLETE: 130}


def exit_code(verdicts: Iterable[Verdict]) -> int:
    """The CLI's exit code for one or more runs: the worst of them (INCOMPLETE > INVALID > VALID)."""
    return max((EXIT_CODES[v] for v in verdicts), default=0)
