"""What the commands do, one module per command group; routers and the CLI stay thin.

| module | what |
| --- | --- |
| ``adoption.py`` | adopt a hub that already has clients: survey, import keys, take over |
"""
