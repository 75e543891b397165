from chatmina.cli import main

main()
