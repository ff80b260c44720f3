"""Description of the machine a run happens on."""

from mlmeter.system.host import describe_host

__all__ = ["describe_host"]
