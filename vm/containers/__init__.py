"""Containers the Docker way: images in a store, a registry that serves them, a daemon that runs them."""
