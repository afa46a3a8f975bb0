from venue.cli import main

main()
