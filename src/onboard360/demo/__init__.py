"""The demo: the sandbox, the service and an example partner product in one process."""
