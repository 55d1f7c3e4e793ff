from scaleserve.cli import main

main()
