"""``python -m onboard360.cli``."""

from onboard360.cli.app import main

main()
