"""The base class of errors meant for the user: shown as one clear message, never a traceback."""


class UserError(Exception):
    """A problem the user can fix; its message says what and how."""
