"""The one rule every path from a session passes before a folder mirror writes, moves or deletes
anything on disk: a mirrored folder never receives what a version-control system or a developer
tool runs or reads as configuration, and never a name that the disk would turn into another one.

Any participant can put any key into the session's ``files`` map (the browser, pycrdt, a hand-made
Yjs client), so a path is the attacker's choice. Refused, whatever the case and at any depth:

- **VCS metadata, as a file or a folder**: ``.git`` (a ``.git`` *file* saying ``gitdir: evil`` makes
  the next ``git status`` read ``evil/config``, whose ``core.fsmonitor`` is a command), ``.hg``,
  ``.svn``, ``.bzr``, ``_darcs``, ``.jj``, ``.pijul``, Fossil's ``.fslckout``/``_FOSSIL_``, and a
  file named ``HEAD``: a folder holding ``HEAD``, ``config``, ``objects/`` and ``refs/`` is a bare
  repository to git, and a shell prompt that runs git on ``cd`` would run that ``config``'s commands.
  Also the mirror's own ``.collab``.
- **Editor and tool configuration that runs code on a routine action** (opening the folder, entering
  it in a shell, ``git commit``): ``.vscode/`` (tasks that run on folder open, interpreter and tool
  paths), ``*.code-workspace``, ``.idea/``, ``.fleet/``, ``.zed/``, ``.devcontainer/``, vim/neovim's
  per-folder ``.exrc``/``.vimrc``/``.nvimrc``/``.nvim.lua``, direnv's ``.envrc``, hook folders
  (``.husky/``, ``.githooks/``, ``.git-hooks/``, ``.lefthook/``) and hook runners' config
  (``.pre-commit-config.yaml``, ``lefthook.yml``). ``collab join --allow-tool-config`` mirrors these.
- **Names a disk changes**: Windows device names (``CON``, ``nul.txt``, ``COM1``...), the characters
  Windows reserves (``<>:"|?*``; ``:`` opens an NTFS alternate stream, ``.git::$INDEX_ALLOCATION`` is
  the folder ``.git``), a trailing dot or space (Windows drops it: ``.git.`` is ``.git``), 8.3 short
  names (``GIT~1`` is ``.git`` on NTFS), and, for the comparisons above, Unicode compatibility forms
  and the code points HFS+ ignores (``.g\\u200cit`` is ``.git`` on a Mac). Absolute paths, ``..``,
  backslashes and control characters are refused by ``validate_path``, checked here too.

Left to the session on purpose: ``.gitignore``, ``.gitattributes`` and ``.gitmodules``. Attributes
name filter, diff and merge drivers whose commands only git config (never the tree) can define, and
git ignores command-bearing ``submodule.*.update`` settings in ``.gitmodules``; all three are ordinary
shared project files, visible in every diff. So is build configuration (Makefile, package.json,
conftest.py): it runs when you build or test the project, which is what sharing code means; the
line drawn here is code that runs without anyone choosing to run the project.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from collab.workspace import PathError, validate_path

_VCS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", ".pijul", ".fslckout", "_fossil_", ".collab"})
_TOOL_DIRS = frozenset(
    {".vscode", ".idea", ".fleet", ".zed", ".devcontainer", ".husky", ".githooks", ".git-hooks", ".lefthook"}
)
_TOOL_FILES = frozenset(
    {".envrc", ".exrc", "_exrc", ".vimrc", "_vimrc", ".gvimrc", "_gvimrc", ".nvimrc", ".nvim.lua",
     ".pre-commit-config.yaml", ".pre-commit-config.yml", "lefthook.yml", "lefthook.yaml", ".lefthook.yml",
     ".lefthook.yaml", "lefthook-local.yml", ".lefthook-local.yml"}
)
_TOOL_SUFFIXES = (".code-workspace",)
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$"}
    | {f"{port}{n}" for port in ("com", "lpt") for n in "0123456789"}
)
_RESERVED = frozenset('<>:"|?*')
_SHORT_NAME = re.compile(r"[^~]{1,6}~[0-9]+(\.[^.]{0,3})?")
# Default-ignorable code points outside category Cf (which is dropped whole): HFS+ and some
# renderers treat these as absent, so a name must compare as if they were not there.
_IGNORABLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0} | set(range(0x180B, 0x1810))
                       | set(range(0xFE00, 0xFE10)))

Kind = Literal["unsafe", "vcs", "tool"]


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: Kind
    prefix: str  # the path up to the name that is refused: said once for everything below it
    reason: str

    def message(self, rel: str) -> str:
        """The one line a person reads about a session file that is not written (a refused folder
        is named once for everything in it)."""
        rel = rel if rel == self.prefix else self.prefix + "/"
        if self.kind == "vcs":
            return f"skipped {rel}: could run code in your tools ({self.reason}); it stays in the session"
        if self.kind == "tool":
            return (f"skipped {rel}: could run code in your tools ({self.reason}; --allow-tool-config "
                    "mirrors it); it stays in the session")
        return f"skipped {rel}: {self.reason}; it stays in the session"


def fold(name: str) -> str:
    """``name`` as a case-insensitive, normalising file system may see it: an NTFS stream suffix
    (``:...``) cut, compatibility forms composed, ignorable code points dropped, case folded,
    trailing dots and spaces gone."""
    name = unicodedata.normalize("NFKC", name.split(":", 1)[0])
    name = "".join(c for c in name if unicodedata.category(c) != "Cf" and ord(c) not in _IGNORABLE
                   and not 0xE0000 <= ord(c) <= 0xE0FFF)
    return unicodedata.normalize("NFKC", name.casefold()).rstrip(". ")


def _name_refusal(name: str, *, last: bool, allow_tool_config: bool) -> tuple[Kind, str] | None:
    folded = fold(name)
    if folded in _VCS or (last and folded == "head"):
        if folded == ".collab":
            return "vcs", "the mirror's own state"
        if folded == "head":
            return "vcs", "a HEAD file makes its folder a git repository"
        return "vcs", "version-control metadata"
    if not allow_tool_config and (
        folded in _TOOL_DIRS or (last and (folded in _TOOL_FILES or folded.endswith(_TOOL_SUFFIXES)))
    ):
        return "tool", "editor or tool configuration"
    if name != name.rstrip(". "):
        return "unsafe", f"the name {name!r} ends in a dot or space, which Windows drops"
    bad = sorted(set(name) & _RESERVED)
    if bad:
        return "unsafe", f"the name {name!r} holds {''.join(bad)!r}, reserved on Windows (':' opens an NTFS stream)"
    if not folded:
        return "unsafe", f"the name {name!r} is empty once invisible characters are dropped"
    if folded.split(".", 1)[0].rstrip(" ") in _DEVICES:
        return "unsafe", f"{name!r} is a Windows device name"
    if _SHORT_NAME.fullmatch(folded):
        return "unsafe", f"{name!r} has the shape of a Windows 8.3 short name, which can stand for another name"
    return None


def is_vcs_name(name: str) -> bool:
    """A file or folder name that is version-control metadata (or the mirror's own), in any spelling."""
    return fold(name) in _VCS


def refusal(rel: str, *, allow_tool_config: bool = False) -> Refusal | None:
    """Why the mirror must not write, move or delete ``rel`` on disk; None when it may."""
    try:
        validate_path(rel)
    except PathError as exc:
        return Refusal("unsafe", rel, str(exc))
    parts = rel.split("/")
    for i, name in enumerate(parts):
        last = i == len(parts) - 1
        found = _name_refusal(name, last=last, allow_tool_config=allow_tool_config)
        if found is not None:
            return Refusal(found[0], "/".join(parts[: i + 1]), found[1])
    return None


class UnsafePath(PermissionError):
    """Raised by the disk layer for a path the rule refuses: the last line of defence."""


def require(rel: str, *, allow_tool_config: bool = False) -> None:
    found = refusal(rel, allow_tool_config=allow_tool_config)
    if found is not None:
        raise UnsafePath(found.message(rel))
