"""The `brownout` command line: run, sim, demo, scenarios, ctl."""

from brownout.cli.main import main

__all__ = ["main"]
