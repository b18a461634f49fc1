"""The one error type of the animate pipeline: bad input whose message is the whole story."""

from __future__ import annotations

from interanimate.errors import UserError


class AnimateError(UserError, ValueError):
    """Bad input to ``animate`` (unreadable or unusable photo, video, pattern, manifest or checkpoint).

    The message is one complete line that names the input and the fix; the CLI prints it without a traceback.
    """
