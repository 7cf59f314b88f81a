"""The command-line tools behind ``python -m gcnn`` (not imported by ``import gcnn``)."""
