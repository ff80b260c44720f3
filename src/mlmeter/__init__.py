"""mlmeter: MLPerf-faithful benchmarking of ML systems in one pip install."""

__version__ = "0.1.0"
