"""The ``onboard360`` command: one module per group of subcommands."""
