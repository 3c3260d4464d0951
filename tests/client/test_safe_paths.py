"""The rule every session path passes before a mirror touches the disk, on its own."""

from __future__ import annotations

import pytest

from collab.client.safe_paths import refusal

REFUSED = {
    # VCS metadata in every spelling a file system may fold into it, as a file or a folder, at any depth.
    ".git": "vcs", ".GIT/hooks/pre-commit": "vcs", ".Git/config": "vcs", "sub/.git": "vcs", "a/b/.git/config": "vcs",
    ".git./config": "vcs", ".git /config": "vcs", ".git../x": "vcs", ".g\u200cit/config": "vcs",
    ".gi\u200dt\ufeff/config": "vcs", "\uff0egit/config": "vcs", ".git::$INDEX_ALLOCATION/config": "vcs",
    ".hg/hgrc": "vcs", ".HG/hgrc": "vcs", ".svn/entries": "vcs", ".bzr/x": "vcs", "_darcs/prefs/defaults": "vcs",
    ".jj/repo/x": "vcs", ".pijul/x": "vcs", ".fslckout": "vcs", "_FOSSIL_": "vcs", ".collab/state.json": "vcs",
    ".COLLAB/state.json": "vcs", "fixtures/repo/HEAD": "vcs", "head": "vcs",
    # Editor and tool configuration that runs code without anyone running the project.
    ".vscode/tasks.json": "tool", ".VSCode/settings.json": "tool", "app/.vscode/launch.json": "tool",
    "x.code-workspace": "tool", ".idea/workspace.xml": "tool", ".envrc": "tool", "sub/.envrc": "tool",
    ".exrc": "tool", ".vimrc": "tool", ".nvimrc": "tool", ".nvim.lua": "tool", ".husky/pre-commit": "tool",
    ".githooks/pre-push": "tool", ".pre-commit-config.yaml": "tool", "lefthook.yml": "tool", ".devcontainer/devcontainer.json": "tool",
    # Names a disk turns into something else.
    "CON": "unsafe", "con.txt": "unsafe", "docs/Aux.tar.gz": "unsafe", "COM1": "unsafe", "LPT\u00b9": "unsafe",
    "nul": "unsafe", "a<b": "unsafe", 'say"hi"': "unsafe", "what?": "unsafe", "star*": "unsafe", "pipe|x": "unsafe",
    "file.txt:stream": "unsafe", "trailing.": "unsafe", "trailing ": "unsafe", "GIT~1/config": "unsafe",
    "PROGRA~1/x": "unsafe", "\u200c": "unsafe", "/etc/passwd": "unsafe", "../up": "unsafe", "a/../../b": "unsafe",
    "a\\b": "unsafe", "a\x00b": "unsafe", "C:/x": "unsafe", "": "unsafe",
}

ALLOWED = [
    "main.py", "src/app.py", ".gitignore", ".gitattributes", ".gitmodules", ".github/workflows/ci.yml",
    ".gitlab-ci.yml", "models/head/layer.py", "docs/git.md", "git/notes.txt", ".editorconfig", "Makefile",
    "package.json", "conftest.py", "file.txt~", "dir with space/é.txt", "con2.txt", "console.log", ".env.example",
    "vscode/notes.md", "a.vscode", "README",
]


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_refused(path: str) -> None:
    found = refusal(path)
    assert found is not None and found.kind == REFUSED[path], (path, found)


@pytest.mark.parametrize("path", ALLOWED)
def test_allowed(path: str) -> None:
    assert refusal(path) is None


def test_tool_config_is_allowed_on_request_and_vcs_never() -> None:
    assert refusal(".vscode/settings.json", allow_tool_config=True) is None
    assert refusal(".envrc", allow_tool_config=True) is None
    assert refusal(".Git/config", allow_tool_config=True) is not None
    assert refusal("CON", allow_tool_config=True) is not None


def test_a_refused_folder_is_named_once_for_everything_in_it() -> None:
    first, second = refusal(".vscode/tasks.json"), refusal(".vscode/settings.json")
    assert first is not None and second is not None
    assert first.message(".vscode/tasks.json") == second.message(".vscode/settings.json")
    assert first.message(".vscode/tasks.json").startswith("skipped .vscode/: could run code in your tools")
