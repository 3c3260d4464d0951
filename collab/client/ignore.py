"""Which files a folder mirror leaves alone: VCS and build folders, editor droppings, .gitignore'd paths.

The same rules apply in both directions, so a session can never write into a local .git or
node_modules, and a local build never floods the session.
"""

from __future__ import annotations

from pathlib import Path

import pathspec

from collab.client.safe_paths import is_vcs_name

# Folders never mirrored, wherever they appear; and, in any spelling, as a file or a folder, the
# version-control metadata of safe_paths (.git, .hg, .svn, .collab, ...).
IGNORED_DIRS = frozenset(
    {"node_modules", "__pycache__", "dist", "build", ".venv", "venv", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox"}
)
# Editor and OS droppings: vim swap/backup files and its write test file, emacs locks and autosaves,
# our own temporary files. Syncing them would make every save of one person flicker for all.
IGNORED_FILES = pathspec.GitIgnoreSpec.from_lines(
    ["*~", ".*.sw[a-p]", ".*.swx", "4913", ".#*", "#*#", ".DS_Store", "Thumbs.db", "*.pyc", ".collab-tmp-*"]
)


class IgnoreRules:
    """Built-in rules plus every .gitignore in the tree (each applies below its own folder).

    The two kinds weigh differently (see ``Mirror``): the built-in rules are the mirror's own and
    skip a path both ways; a .gitignore is a file of the session that anyone may edit, so it only
    keeps *new* local files out of the session (build outputs, a private .env), and never hides a
    session file from the mirror nor stops a file already shared from syncing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec] = {}  # folder ("" = root) -> its .gitignore
        self._lines: dict[str, list[str]] = {}
        self.versions: dict[str, int] = {}  # folder -> how often its .gitignore changed (for telling once)

    def load_gitignore(self, folder: str) -> None:
        """(Re)read ``folder``/.gitignore; call again whenever that file changes."""
        path = self.root / folder / ".gitignore" if folder else self.root / ".gitignore"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = None
        if lines == self._lines.get(folder):
            return
        self.versions[folder] = self.versions.get(folder, 0) + 1
        if lines is None:
            self._specs.pop(folder, None)
            self._lines.pop(folder, None)
            return
        self._lines[folder] = lines
        self._specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines)

    def ignored_dir(self, rel: str) -> bool:
        """A folder (relative, /-separated) whose whole content is skipped."""
        name = rel.rsplit("/", 1)[-1]
        return name in IGNORED_DIRS or is_vcs_name(name) or self._matching(rel + "/") is not None

    def ignored(self, rel: str) -> bool:
        """A file path (relative, /-separated): skipped if it or any folder above it is ignored."""
        return self.built_in(rel) or self.gitignore_of(rel) is not None

    def built_in(self, rel: str) -> bool:
        """Skipped by the mirror's own rules: build and VCS folders, editor droppings."""
        parts = rel.split("/")
        if any(p in IGNORED_DIRS for p in parts[:-1]) or any(is_vcs_name(p) for p in parts):
            return True
        return bool(IGNORED_FILES.match_file(parts[-1]))

    def gitignore_of(self, rel: str) -> str | None:
        """The folder ("" for the top) whose .gitignore matches the file ``rel`` or a folder above it."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = self._matching("/".join(parts[:i]) + "/")
            if folder is not None:
                return folder
        return self._matching(rel)

    def _matching(self, rel: str) -> str | None:
        for folder, spec in self._specs.items():
            if not folder:
                if spec.match_file(rel):
                    return folder
            elif rel.startswith(folder + "/") and spec.match_file(rel[len(folder) + 1 :]):
                return folder
        return None
