"""MLPerf Storage (DLIO) in mlmeter: sizing, data generation, emulated accelerators, checkpointing, reports."""
