"""Command logic shared by the web edges, the CLI and the jobs (one module per command group)."""
