from onboard360.cli import main

main()
