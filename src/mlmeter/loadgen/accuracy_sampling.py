"""Which performance-pass samples the accuracy log records (spec §11): the official probability and the
official random stream, skipped ahead to each sample's sequence number."""

from __future__ import annotations

import numpy as np

from mlmeter.loadgen.rng import MT19937, canonicals
from mlmeter.loadgen.scenarios.policy import scenario_policy
from mlmeter.loadgen.settings import EffectiveSettings


def sampling_probability(es: EffectiveSettings) -> float:
    """``accuracy_log_probability``, or the probability that logs about ``accuracy_log_sampling_target``
    samples of the expected pass."""
    if es.accuracy_log_sampling_target > 0:
        offline = scenario_policy(es.scenario).one_query
        spq = es.samples_per_query
        expected = max(
            int(es.target_qps * es.min_duration_ms / 1000) * (1 if offline else spq),
            es.min_sample_count if offline else es.min_query_count * spq,
        )
        return es.accuracy_log_sampling_target / expected if expected else 1.0
    return es.accuracy_log_probability


class SampleSelector:
    """One draw per sample of the whole test, in sequence order, shared by every pass."""

    def __init__(self) -> None:
        self._rng = MT19937(5489)
        self._pos = 0

    def mask(self, seq: int, n: int, offset: float, prob: float) -> np.ndarray:
        """Whether each of the ``n`` samples from sequence number ``seq`` on is logged."""
        if seq > self._pos:
            self._rng.skip(2 * (seq - self._pos))
        v = canonicals(self._rng, n)
        self._pos = seq + n
        w = v + offset
        w = np.where(w < 1.0, w, v + offset - 1.0)
        return w <= prob


def offset_for(es: EffectiveSettings) -> float:
    """The pass's random offset, from ``accuracy_log_rng_seed``."""
    return float(canonicals(MT19937(es.accuracy_log_rng_seed), 1)[0])
