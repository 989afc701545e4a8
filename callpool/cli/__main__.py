from callpool.cli.main import main

main()
