"""The one kind of error the container commands report: a message for the user, exit status 2."""


class ContainerError(Exception):
    """An image, registry or daemon problem the user can act on; the message says what and how."""
