"""Statistics over repeats (checked against SciPy), and the LoadGen summaries the report draws from."""

from __future__ import annotations

import numpy as np
import pytest

from mlmeter.loadgen.timeline import RESOLUTION_NS, Timeline, latency_histogram
from mlmeter.results.stats import bootstrap_ci, compare_samples, summarize, t_cdf, t_quantile

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3.5, 9, 30, 57.3, 400])
def test_t_distribution_matches_scipy(df):
    assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)
    for t in (-3.1, -0.2, 0.7, 2.5):
        assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-12)


def test_summary_t_interval_and_olympic_mean():
    v = [10.0, 12.0, 11.0, 13.0, 30.0]
    s = summarize(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert s.std == pytest.approx(np.std(v, ddof=1)) and s.olympic_mean == pytest.approx(12.0)
    assert s.noisy and s.ci_method == "t"
    one = summarize([5.0])
    assert one.ci_low is None and one.std == 0 and not one.noisy


def test_bootstrap_interval_for_percentiles_is_reproducible_and_covers_the_mean():
    rng = np.random.default_rng(3)
    v = list(rng.lognormal(0, 0.3, 12))
    s = summarize(v, percentile_metric=True)
    assert s.ci_method == "bootstrap" and s.ci_low < np.mean(v) < s.ci_high
    assert bootstrap_ci(v) == bootstrap_ci(v)
    ref = stats.bootstrap((np.array(v),), np.mean, method="percentile", n_resamples=10_000, random_state=1)
    assert s.ci_low == pytest.approx(ref.confidence_interval.low, rel=0.02)
    assert s.ci_high == pytest.approx(ref.confidence_interval.high, rel=0.02)


def test_welch_comparison_matches_scipy():
    a, b = [10, 11, 12, 10.5, 11.2], [12, 12.5, 13, 12.2]
    d = compare_samples(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert d.p_value == pytest.approx(ref.pvalue) and d.significant and d.method == "welch"
    ci = ref.confidence_interval(0.95)
    assert (d.ci_low, d.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    same = compare_samples([1.0, 1.1, 0.9], [1.05, 0.95, 1.0])
    assert same.significant is False
    assert compare_samples([1.0], [2.0]).significant is None


def test_timeline_counts_every_sample_in_its_bucket():
    rng = np.random.default_rng(0)
    start = 1_000_000_000
    issued = np.sort(rng.integers(start, start + 3 * 10**9, 5000))
    done = issued + rng.integers(0, 5 * 10**7, 5000)
    tl = Timeline()
    for lo in range(0, 5000, 700):  # folded chunk by chunk, as the recorder does
        tl.add(start, issued[lo:lo + 700], 1, done[lo:lo + 700])
    s = tl.summary(max_points=50)
    assert sum(s["issued"]) == 5000 and sum(s["completed"]) == 5000 and len(s["issued"]) <= 50
    width = round(s["bucket_s"] * 1e9)
    assert width % RESOLUTION_NS == 0
    expect = np.bincount((done - start) // width, minlength=len(s["completed"]))
    assert s["completed"] == expect.tolist()
    multi = Timeline()
    multi.add(start, issued[:10], 8, np.repeat(done[:10], 8))
    assert sum(multi.summary()["issued"]) == 80


def test_latency_histogram_partitions_the_samples():
    lat = np.sort(np.random.default_rng(1).lognormal(14, 1.0, 100_000).astype(np.int64))
    h = latency_histogram(lat)
    assert sum(h["counts"]) == len(lat) and len(h["edges_ns"]) == len(h["counts"]) + 1
    ref, _ = np.histogram(lat, bins=np.array(h["edges_ns"]))
    assert h["counts"] == ref.tolist()
    assert latency_histogram(np.array([7, 7, 7]))["counts"] == [3]
