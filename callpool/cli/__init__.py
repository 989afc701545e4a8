"""The ``callpool`` command line: one module per command group, registered in ``main``."""

from callpool.cli.main import main

__all__ = ["main"]
