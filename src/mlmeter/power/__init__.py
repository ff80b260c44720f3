"""Power and energy during a run: RAPL and NVML sources sampled in the background, MLPerf's power metrics."""

from mlmeter.power.meter import Meter, MeteredPasses
from mlmeter.power.sampler import PowerSampler, PowerTrace, power_metrics
from mlmeter.power.sources import NvmlSource, PowerSource, PowerUnavailable, RaplSource, open_sources, source_names

__all__ = ["Meter", "MeteredPasses", "NvmlSource", "PowerSampler", "PowerSource", "PowerTrace", "PowerUnavailable",
           "RaplSource", "open_sources", "power_metrics", "source_names"]
