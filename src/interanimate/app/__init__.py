"""``interanimate app``: a Gradio (Blocks) app over animate, the dataset tools and annotate.

Modules: ``settings`` (what the server may do: host, root, limits), ``paths`` (every path a request names is
resolved inside the root or the app's own temporary folder), ``renderers`` (the renderer choices of the Animate
tab, one list), ``overlay`` (labels drawn over frames, the contact timeline), ``jobs`` (the work behind each tab and
endpoint, independent of Gradio), ``ui`` (the Blocks layout and the named API endpoints ``/animate`` and
``/annotate``), ``server`` (launching it safely), ``command`` (the CLI).
"""

from interanimate.app.errors import AppInputError
from interanimate.app.settings import AppSettings

__all__ = ["AppInputError", "AppSettings"]
