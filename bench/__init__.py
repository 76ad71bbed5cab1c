"""Benchmarks of the onboarding service; see bench/README.md. Not collected by pytest."""
