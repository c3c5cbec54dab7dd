from polyroute.server.process import is_serving_process

if is_serving_process():  # `polyroute serve` exec'd itself: serve without the command line's modules
    from polyroute.server.process import main
else:
    from polyroute.cli.main import main

main()
