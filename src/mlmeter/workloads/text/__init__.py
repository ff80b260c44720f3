"""Text processing for the language workloads."""
