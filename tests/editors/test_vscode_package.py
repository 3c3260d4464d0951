"""The VS Code extension packages into a .vsix that VS Code can install."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile

from tests.editors.vscode_support import VSCODE, needs_node_packages

pytestmark = needs_node_packages

COMMANDS = {"collab.join", "collab.leave", "collab.follow", "collab.chat", "collab.askAI", "collab.accept", "collab.reject"}


def test_the_vsix_builds_offline_and_holds_a_self_contained_bundle() -> None:
    subprocess.run(["npm", "run", "--silent", "package"], cwd=VSCODE, check=True, timeout=300)
    with zipfile.ZipFile(VSCODE / "dist" / "collab.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
        bundle = vsix.read("extension/dist/extension.js").decode("utf-8")
    assert {"extension.vsixmanifest", "extension/dist/extension.js", "extension/readme.md"} <= names
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts")]
    assert COMMANDS <= {c["command"] for c in manifest["contributes"]["commands"]}
    assert manifest["engines"]["vscode"].startswith("^1.")
    # Bundled: the only modules left to load at run time are vscode's and Node's own.
    required = set(re.findall(r'require\("([^"]+)"\)', bundle))
    assert "vscode" in required
    assert required <= {"vscode", "child_process", "events", "os", "readline"}, required
