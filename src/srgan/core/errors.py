"""The one exception type for user mistakes (bad paths, bad config values, bad images).

The CLI prints a ``UserError`` as a single line and exits with status 2, without a
traceback; every other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: the message names the file, key or value at fault."""
