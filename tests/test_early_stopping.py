"""Early stopping integers: the spec's verified tables, and the official package over a grid."""

import numpy as np
import pytest

from mlmeter.loadgen.early_stopping import min_queries_for, needed_queries, overlatency_check, percentile_estimate

from .conftest import requires_official, run_harness


@pytest.mark.parametrize("p,n", [(0.5, 11), (0.9, 64), (0.95, 130), (0.97, 219), (0.99, 662), (0.999, 6636)])
def test_minimum_queries(p, n):
    assert min_queries_for(p) == n


@pytest.mark.parametrize(
    "t,total", [(0, 459), (1, 662), (2, 838), (3, 1001), (4, 1157), (5, 1307), (10, 2010), (20, 3304), (100, 12571)]
)
def test_server_needed_totals(t, total):
    assert needed_queries(t, 0.99) == total


@pytest.mark.parametrize(
    "n,k", [(64, 0), (65, 0), (100, 2), (200, 9), (500, 33), (659, 47), (662, 47), (1000, 77), (5000, 449), (10000, 929)]
)
def test_discards_at_p90(n, k):
    r = percentile_estimate(np.arange(n), 0.9)
    assert r.satisfied and r.discarded == k
    assert r.estimate == n - 1 - k  # the (k+1)-th largest of 0..n-1


@pytest.mark.parametrize("n,t,more", [(458, 93, 11331), (459, 50, 6439), (1000, 122, 14012), (5000, 978, 100288)])
def test_server_more_queries(n, t, more):
    c = overlatency_check(n, t, 0.99)
    assert not c.satisfied and c.needed - n == more


def test_too_few_queries():
    r = percentile_estimate(np.arange(10), 0.9)
    assert not r.satisfied and r.min_queries == 64


@requires_official
@pytest.mark.oracle
@pytest.mark.parametrize("n,p", [(70, 0.9), (333, 0.9), (1500, 0.9), (700, 0.99), (2500, 0.99), (120, 0.5), (400, 0.97)])
def test_against_official_summary(tmp_path, n, p):
    settings = dict(scenario="SingleStream", min_duration_ms=0, min_query_count=n, max_query_count=n,
                    single_stream_expected_latency_ns=1000, single_stream_target_latency_percentile=p)
    off = run_harness("official", tmp_path / "o", settings, 64, 64).text("summary.txt")
    ours = run_harness("ours", tmp_path / "m", settings, 64, 64).text("summary.txt")

    def discards(text):
        return [line for line in text.splitlines() if "queries" in line and line.startswith(" *")]

    assert discards(ours) == discards(off)
