"""The package __init__ is the domain's only public surface (as httpx guards its own)."""

from __future__ import annotations

from onboard360 import domain


def test_all_names_exist_and_are_unique() -> None:
    assert all(hasattr(domain, name) for name in domain.__all__)
    assert len(set(domain.__all__)) == len(domain.__all__)


def test_every_public_object_is_exported() -> None:
    public = {
        name
        for name, value in vars(domain).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("onboard360")
    }
    assert public <= set(domain.__all__)
