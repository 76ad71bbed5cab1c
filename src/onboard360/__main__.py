from onboard360.cli.app import main

main()
