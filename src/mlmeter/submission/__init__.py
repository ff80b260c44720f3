"""MLPerf Inference submissions: compliance audits and their verification, the results tree, its checker."""
