"""The dashboard's view of operator accounts: the commands live in services/accounts.py.

Kept so the dashboard's modules (and the demo) name one import; it holds no SQL.
"""

from __future__ import annotations

from onboard360.services.accounts import (
    Operator,
    authenticate,
    create_operator,
    disable_operator,
    list_operators,
    set_operator_password,
)
from onboard360.services.audit import audit

__all__ = [
    "Operator",
    "audit",
    "authenticate",
    "create_operator",
    "disable_operator",
    "list_operators",
    "set_operator_password",
]
