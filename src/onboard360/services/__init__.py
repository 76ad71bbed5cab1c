"""What the commands do, one module per command group; routers and the CLI stay thin.

| module | what |
| --- | --- |
| ``adoption.py`` | adopt a hub that already has clients: survey, import keys, take over |
| ``key_file.py`` | the file of keys a partner's current system holds (CSV or JSON) |
"""
