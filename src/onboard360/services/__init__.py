"""One module per command group: the work behind the CLI, with no Typer in it.

| module | what |
| --- | --- |
| ``hub_checks.py``, ``hub_connect.py`` | ``hubs check`` and ``hubs connect`` |
| ``adoption.py`` | adopt a hub that already has clients: import keys, take over |
| ``survey.py`` | adoption's dry run: the hub's channels and what would happen to each |
| ``key_file.py`` | the file of keys a partner's current system holds (CSV or JSON) |
"""
