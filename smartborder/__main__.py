from smartborder.cli import main

main()
