"""Every path a request names resolves inside the app's root or its temporary folder; anything else is refused.

Resolution follows symbolic links first (``Path.resolve``), so neither ``..`` nor a link that points out of the
root gets through.
"""

from __future__ import annotations

from pathlib import Path

from interanimate.app.errors import AppInputError


def inside(path: Path, folder: Path) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


class SafePaths:
    """Resolves user-given paths against ``root`` and checks that files handed in or out lie in allowed folders.

    Args:
        root: the served folder; relative paths are relative to it.
        temp_dir: the app's own working folder (uploads and results).
    """

    def __init__(self, root: Path, temp_dir: Path):
        self.root = Path(root).resolve()
        self.temp_dir = Path(temp_dir).resolve()

    def under_root(self, text: str | Path, what: str = "path") -> Path:
        """``text`` (relative to the root, or absolute) as a resolved path inside the root."""
        raw = str(text or "").strip()
        if "\x00" in raw:
            raise AppInputError(f"{what} {raw!r}: contains a NUL character")
        candidate = Path(raw) if raw else self.root
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        if not inside(resolved, self.root):
            raise AppInputError(f"{what} {raw!r} is outside the app's root {self.root}; give a folder inside it")
        return resolved

    def allowed_file(self, path: str | Path, what: str = "file") -> Path:
        """An existing file inside the root or the temporary folder (uploads arrive in the latter)."""
        resolved = Path(path).resolve()
        if not (inside(resolved, self.root) or inside(resolved, self.temp_dir)):
            raise AppInputError(f"{what} {path}: outside the app's root and upload folder; upload it instead")
        if not resolved.is_file():
            raise AppInputError(f"{what} {path}: no such file; upload it again")
        return resolved

    def relative(self, path: Path) -> str:
        """How the page names a path under the root."""
        resolved = Path(path).resolve()
        return "." if resolved == self.root else str(resolved.relative_to(self.root))
