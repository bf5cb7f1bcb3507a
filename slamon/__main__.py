from slamon.cli import main

main()
