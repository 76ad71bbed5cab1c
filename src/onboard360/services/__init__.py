"""One module per command group: the work behind the web edges, the CLI and the jobs,
with no HTTP or Typer in it.

| module | what |
| --- | --- |
| ``hub_checks.py``, ``hub_connect.py`` | ``hubs check`` and ``hubs connect`` |
| ``adoption.py`` | adopt a hub that already has clients: import keys, take over |
| ``survey.py`` | adoption's dry run: the hub's channels and what would happen to each |
| ``key_file.py`` | the file of keys a partner's current system holds (CSV or JSON) |
| ``redirects.py`` | a popup redirect: verified against 360dialog, then applied or recorded |
| ``verification.py`` | what 360dialog says about a client and its channels |
| ``claims.py`` | claim a client for a product user (settles conflicts, direct links) |
"""
