"""Containers the Docker way: images in a store, a registry that serves them, a daemon that runs them."""

KILL_SIGNALS = ("INT", "TERM", "KILL")  # what the daemon's kill sends, and (in this order) Ctrl-C on an attached run
# What a server (`vm daemon`, `vm registry serve`) waits on a client that sends nothing of its request
# (its head, or a body that stopped arriving) before it cuts it off; their --client-timeout.
CLIENT_SECONDS = 10.0
