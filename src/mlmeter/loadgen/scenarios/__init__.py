"""One issuing loop per scenario behind one contract: ``issue(ctx: PassContext) -> None``."""

from __future__ import annotations

from collections.abc import Callable

from mlmeter.loadgen.scenarios.base import PassContext
from mlmeter.loadgen.scenarios.closed_loop import issue_closed_loop
from mlmeter.loadgen.scenarios.offline import issue_offline
from mlmeter.loadgen.scenarios.server import issue_server
from mlmeter.loadgen.settings import TestScenario

IssueLoop = Callable[[PassContext], None]

LOOPS: dict[TestScenario, IssueLoop] = {
    TestScenario.SingleStream: issue_closed_loop,
    TestScenario.MultiStream: issue_closed_loop,
    TestScenario.Server: issue_server,
    TestScenario.Offline: issue_offline,
}

__all__ = ["LOOPS", "IssueLoop", "PassContext"]
