"""The one error type a user sees: a one-line message naming the file/key and the fix."""


class UserError(ValueError):
    """Bad input from a user (params, files, datasets). The CLI prints it on one line, exit 2."""
