"""Results across runs: the local run store (an index of run directories)."""

from mlmeter.results.store import RunStore, StoreError, default_store, read_result, register

__all__ = ["RunStore", "StoreError", "default_store", "read_result", "register"]
