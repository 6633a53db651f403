from mlcost.cli import main

main()
