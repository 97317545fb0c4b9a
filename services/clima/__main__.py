"""`python -m clima` is the `clima` command."""

from clima.cli import main

main()
