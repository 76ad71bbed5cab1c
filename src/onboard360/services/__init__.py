"""One module per command group: the work behind the CLI, with no Typer in it."""
