"""A faithful offline simulator of everything 360dialog shows a partner.

Where 360dialog's public documentation is silent, the choice made here is marked
``# unverified:`` in ``platform.py`` (one place per topic) so it can be corrected.
"""
