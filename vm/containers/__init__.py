"""Containers the Docker way: images in a store, a registry that serves them, a daemon that runs them."""

KILL_SIGNALS = ("INT", "TERM", "KILL")  # what the daemon's kill sends, and (in this order) Ctrl-C on an attached run
