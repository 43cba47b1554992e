from naap.cli import main

main()
