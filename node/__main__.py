"""`python -m node` is `fednode`."""

from node.cli import main

main()
