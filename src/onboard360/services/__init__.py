"""One function per command (start onboarding, rotate key, replay, …): its transaction, its
audit row and its source; the work behind the web edges and the CLI, with no HTTP or
Typer in it. A refusal is a ``refusals.Refused``; who asked is a ``source.Source``.

| module | what |
| --- | --- |
| ``hub_checks.py``, ``hub_connect.py`` | ``hubs check`` and ``hubs connect`` |
| ``adoption.py`` | adopt a hub that already has clients: import keys, take over |
| ``survey.py`` | adoption's dry run: the hub's channels and what would happen to each |
| ``key_file.py`` | the file of keys a partner's current system holds (CSV or JSON) |
| ``redirects.py`` | a popup redirect: verified against 360dialog, then applied or recorded |
| ``verification.py`` | what 360dialog says about a client and its channels |
| ``claims.py`` | claim a client for a product user (settles conflicts, direct links) |
| ``onboardings.py`` | start an onboarding (attempt, timeline line, ``onboarding.started``) |
| ``resume.py`` | resume an abandoned onboarding: a fresh attempt in the same journey, once |
| ``rotation.py`` | rotate a channel's key (an explicit intent; refuses replays) |
| ``keys.py`` | read a channel's API key (recorded on the timeline) |
| ``deliveries.py`` | disable / enable the product's endpoint, replay its events |
| ``operator.py`` | an operator's confirm-permission, resend, reconcile-now |
| ``accounts.py``, ``sessions.py`` | operator accounts (create, password, disable), log in/out |
| ``refusals.py``, ``source.py``, ``audit.py`` | the one refusal type, who asked, the audit row |
"""
