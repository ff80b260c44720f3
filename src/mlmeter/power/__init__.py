"""Power and energy during a run: RAPL and NVML sources sampled in the background, MLPerf's power metrics."""

from mlmeter.power.sampler import PowerSampler, PowerTrace, power_metrics
from mlmeter.power.sources import NvmlSource, PowerSource, PowerUnavailable, RaplSource, open_sources

__all__ = ["NvmlSource", "PowerSampler", "PowerSource", "PowerTrace", "PowerUnavailable", "RaplSource",
           "open_sources", "power_metrics"]
