"""`python -m watch` runs the `veille` command line."""

from watch.cli import main

main()
