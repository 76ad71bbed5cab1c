"""The chaos drill (`onboard360 drill`): real processes, injected faults, SIGKILLs, a verdict.

It lives in the package, not in ``tests/`` or a ``tools/`` folder, because it is a command
a partner runs against their own build (`onboard360 drill` after `pip install`), and CI
runs the very same code (tests/e2e/test_drill.py). See docs/drill.md.

Modules: ``run`` (the command, start to verdict), ``world`` (database, ports, secrets,
every process's settings), ``processes`` (start, SIGKILL, restart), ``proxy`` (the
round-robin balancer), ``clients`` (onboardings over HTTP), ``chaos`` (kills and faults),
``product`` (the partner product process), ``evidence`` and ``verdict`` (the checks).
Nothing is imported here: ``python -m onboard360.drill.product`` must stay light.
"""
