"""`python -m capplan` runs the CLI."""

from capplan.cli import main

main()
