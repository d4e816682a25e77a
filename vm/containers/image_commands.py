"""The image commands of `vm`: image build/ls/inspect/rm/tag/save/load, registry serve, push, pull."""

from __future__ import annotations


def add_commands(command) -> None:
    """Add this module's subcommands through the CLI's `command(name, func, help)` factory."""
