"""Sandbox scenarios: a partner's onboarding story as one file, played against a running
sandbox and a running onboard360 (``onboard360 sandbox run FILE``).

``loader`` reads and checks a file, ``kinds`` lists the step kinds (``kinds_*`` define
them on ``base.Step``), ``runner`` plays one, ``browser`` walks the popup over HTTP.
"""
