"""MLPerf-style training: MLLOG writer and reader, reference workloads, time-to-train and olympic scoring."""
