"""Description of the machine a run happens on (``mlmeter sysinfo``; the ``system`` key of every result)."""

from mlmeter.system.host import describe_host, describe_storage

__all__ = ["describe_host", "describe_storage"]
