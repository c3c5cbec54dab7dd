from polyroute.cli.main import main

main()
