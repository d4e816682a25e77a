"""Argument types the command line's parts share (sizes, seconds, budgets): the CLI, and the image and
container commands it hosts, read them from here rather than from each other."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> int:
    """Bytes, with an optional K, M or G suffix (powers of 1024)."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    number = t[:-1] if scale > 1 else t
    try:
        return int(number, 0) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1048576, 256K or 1M") from None


def parse_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError("a CPU limit is at least 1 second")
    return value


def parse_timeout(text: str) -> float:
    """Seconds a server waits on a silent client: more than 0, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} s: give more than 0 and at most 3600 seconds")
    return value


def parse_limit_size(text: str) -> int:
    """A size in bytes with an optional K, M or G suffix, at least 1."""
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 65536, 64K, 256M or 2G")
    return int(digits) * scale


def parse_fuel(text: str) -> int:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("fuel must be from 0 to 2^63 - 1")
    return value


def parse_duration(text: str) -> float:
    """A duration: seconds, or a number with s, m or h (`90`, `30s`, `10m`, `1.5h`)."""
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:].lower())
    try:
        value = float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use seconds, or 30s, 10m, 2h") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration is more than 0")
    return value
