"""The app's error type: a request or setting that cannot be served, with a message that is the whole story."""

from __future__ import annotations


class AppInputError(ValueError):
    """Bad input to the app (a path outside the root, an upload over the limits, an unusable setting).

    The message is one line naming the input and the fix; the page shows it in place of a result and the command
    line prints it without a traceback.
    """
