"""The daemon's commands of `vm`: daemon, and its client's container run/ps/logs/stop/rm/inspect."""

from __future__ import annotations


def add_commands(command) -> None:
    """Add this module's subcommands through the CLI's `command(name, func, help)` factory."""
