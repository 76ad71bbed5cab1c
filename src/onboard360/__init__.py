"""onboard360: the partner side of 360dialog's Integrated Onboarding, self-hosted."""

__version__ = "0.1.0"
