"""Drop-in replacements for official APIs: ``mlmeter.compat.mlperf_loadgen``."""
