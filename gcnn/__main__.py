"""``python -m gcnn {demo,bench,train}``: the command line lives in :mod:`gcnn.cli`."""

from __future__ import annotations

import sys

from .cli.main import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
