"""The project's error types for expected failures.

Anything the user can fix (a bad input file, an unknown name, an option out of range, an output folder that
cannot be written) raises a subclass of :class:`UserError` whose message is one complete line naming the input and
the fix. The command line prints exactly that line and exits with status 2. Every other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure whose message is the whole story (no traceback)."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or is not the kind of thing expected)."""


class OutputError(UserError, OSError):
    """An output location cannot be written (read-only, full, not a folder); nothing already written is lost."""
