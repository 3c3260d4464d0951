"""The folder mirror's decisions, as a pure function: the session's text, the folder's, the base -> actions."""

from __future__ import annotations

from typing import Mapping

from collab.client.localfs import Skipped
from collab.client.reconcile import (
    Adopt,
    Forget,
    Note,
    Refresh,
    RemoveLocal,
    RenameInSession,
    Send,
    SetAside,
    Skip,
    Write,
    on_local,
    on_remote,
    reconcile,
    renames,
    text_hash,
)

BASE = "".join(f"line {i}\n" for i in range(10))
HERE = BASE.replace("line 1\n", "line 1 edited here\n")
THERE = BASE.replace("line 8\n", "line 8 edited there\n")
BOTH = BASE.replace("line 1\n", "line 1 edited here\n").replace("line 8\n", "line 8 edited there\n")


def start(session: dict[str, str], folder: dict[str, str | Skipped], known: Mapping[str, str | list[str]] | None = None,
          *, bases: dict[str, str] | None = None, deletes: bool = False,
          refused: dict[str, str] | None = None) -> dict[str, list[object]]:
    texts = {text_hash(t): t for t in (bases or {}).values()}

    def refusal(path: str) -> Note | None:
        return Note(path, f"refused {path}: {refused[path]}") if refused and path in refused else None

    candidates = {p: [h] if isinstance(h, str) else h for p, h in (known or {}).items()}
    steps = reconcile(session, folder, candidates, base_text=texts.get, deletes=deletes,
                      not_written=refusal, not_sent=refusal)
    return {path: list(actions) for path, actions in steps}


def test_a_fresh_folder_takes_the_session_and_uploads_its_own_files() -> None:
    plan = start({"a.py": "A\n", "same.py": "S\n"}, {"same.py": "S\n", "mine.py": "M\n"})
    assert plan == {
        "a.py": [Write("a.py", "A\n")],
        "same.py": [Adopt("same.py", "S\n")],
        "mine.py": [Send("mine.py", "M\n", base="M\n")],
    }
    assert list(plan) == ["a.py", "same.py", "mine.py"]  # the session's files first, then the uploads


def test_a_local_file_never_synced_is_set_aside_before_the_session_writes() -> None:
    assert start({"a.py": "theirs\n"}, {"a.py": "mine\n"}) == {"a.py": [SetAside("a.py"), Write("a.py", "theirs\n")]}


def test_a_rejoin_takes_the_side_that_changed() -> None:
    known = {"edited_here.py": text_hash(BASE), "edited_there.py": text_hash(BASE)}
    plan = start({"edited_here.py": BASE, "edited_there.py": THERE},
                 {"edited_here.py": HERE, "edited_there.py": BASE}, known)
    assert plan == {
        "edited_here.py": [Send("edited_here.py", HERE, base=HERE)],
        "edited_there.py": [Write("edited_there.py", THERE)],
    }


def test_edits_of_different_lines_on_both_sides_are_merged() -> None:
    plan = start({"n.txt": THERE}, {"n.txt": HERE}, {"n.txt": text_hash(BASE)}, bases={"n.txt": BASE})
    assert plan["n.txt"][0] == Send("n.txt", BOTH, base=None)
    assert isinstance(plan["n.txt"][1], Note) and "merged" in plan["n.txt"][1].message
    assert plan["n.txt"][2] == Write("n.txt", BOTH)


def test_edits_of_the_same_line_or_without_a_base_text_are_set_aside() -> None:
    same_line = BASE.replace("line 1\n", "line 1 edited there\n")
    known = {"n.txt": text_hash(BASE)}
    assert start({"n.txt": same_line}, {"n.txt": HERE}, known, bases={"n.txt": BASE}) == {
        "n.txt": [SetAside("n.txt"), Write("n.txt", same_line)]}
    assert start({"n.txt": THERE}, {"n.txt": HERE}, known) == {"n.txt": [SetAside("n.txt"), Write("n.txt", THERE)]}


def test_a_delete_made_while_away_removes_the_untouched_file_only_in_the_same_room() -> None:
    known = {"gone.py": text_hash("old\n"), "edited.py": text_hash("old\n")}
    folder: dict[str, str | Skipped] = {"gone.py": "old\n", "edited.py": "new here\n"}
    plan = start({}, folder, known, deletes=True)
    assert [type(a) for a in plan["gone.py"]] == [RemoveLocal]
    assert plan["edited.py"] == [Send("edited.py", "new here\n", base="new here\n")]
    # Without knowing the previous run was this room's, nothing is deleted.
    assert start({}, folder, known)["gone.py"] == [Send("gone.py", "old\n", base="old\n")]


def test_skipped_and_refused_paths_are_left_alone_with_one_line() -> None:
    big = Skipped("over the limit")
    plan = start({"big.bin": "x\n", "bad": "y\n"}, {"big.bin": big, "local.bin": big, "bad": "mine\n", "cfg": "c\n"},
                 refused={"bad": "no", "cfg": "tool config"})
    assert plan["big.bin"] == [Skip("big.bin", big)]
    assert plan["bad"] == [Note("bad", "refused bad: no")]  # the local file is neither set aside nor sent
    assert plan["cfg"] == [Note("cfg", "refused cfg: tool config")]
    assert plan["local.bin"] == [Note("local.bin", "skipped local.bin: over the limit")]


def test_a_refused_path_is_never_deleted_even_when_the_last_run_synced_it() -> None:
    plan = start({}, {".vscode/settings.json": "{}\n"}, {".vscode/settings.json": text_hash("{}\n")},
                 deletes=True, refused={".vscode/settings.json": "tool config"})
    assert [type(a) for a in plan[".vscode/settings.json"]] == [Note]


def test_a_remote_edit_is_written_and_a_save_not_yet_seen_is_merged_first() -> None:
    assert on_remote("a", session=THERE, disk=BASE, base=BASE) == [Write("a", THERE)]
    assert on_remote("a", session=THERE, disk=HERE, base=BASE) == [
        Send("a", BOTH, base=HERE), Write("a", BOTH)]
    assert on_remote("a", session="new\n", disk="mine\n", base=None) == [
        SetAside("a"), Write("a", "new\n")]


def test_a_remote_delete_removes_only_an_untouched_local_file() -> None:
    assert on_remote("a", session=None, disk=BASE, base=BASE) == [RemoveLocal("a")]
    kept = on_remote("a", session=None, disk=HERE, base=BASE)
    assert kept[-1] == Send("a", HERE, base=HERE)
    assert on_remote("a", session=None, disk=Skipped("binary"), base=BASE) == [Forget("a")]
    assert on_remote("a", session=None, disk=None, base=None) == []


def test_a_local_save_is_sent_and_merged_with_a_remote_edit_it_raced() -> None:
    assert on_local("a", text=BASE, base=BASE, session=BASE) == []
    assert on_local("a", text=HERE, base=BASE, session=BASE) == [Send("a", HERE, base=HERE)]
    assert on_local("a", text=HERE, base=BASE, session=THERE) == [Send("a", BOTH, base=HERE), Refresh("a")]
    assert on_local("new", text="n\n", base=None, session=None) == [Send("new", "n\n", base="n\n")]


def test_the_same_edit_made_on_both_sides_is_kept_once() -> None:
    # Two folders pulling the same commit: the remote edit meets an identical save not yet seen.
    assert on_remote("a", session=THERE, disk=THERE, base=BASE) == [
        Send("a", THERE, base=THERE), Adopt("a", THERE)]
    assert on_local("a", text=THERE, base=BASE, session=THERE) == [Send("a", THERE, base=THERE)]


def test_a_moved_folder_pairs_each_file_with_its_own_even_when_texts_are_alike() -> None:
    gone = {"src/__init__.py": "", "src/util/__init__.py": "", "src/util/s.py": "S\n", "other.py": "O\n"}
    appeared = {"lib/__init__.py": "", "lib/util/__init__.py": "", "lib/util/s.py": "S\n", "new.py": "N\n"}
    assert sorted(renames(appeared, gone)) == [
        ("src/__init__.py", "lib/__init__.py"), ("src/util/__init__.py", "lib/util/__init__.py"),
        ("src/util/s.py", "lib/util/s.py"),
    ]
    assert renames({"b.py": "changed\n"}, {"a.py": "A\n"}) == []  # renamed and edited: no rename


def test_a_remote_edit_of_a_file_gone_from_disk_waits_for_the_local_side() -> None:
    # A rename (or delete) here the watcher has not reported yet: not written back at the old path.
    assert on_remote("a.py", session="A2\n", disk=None, base="A\n") == []


def test_a_file_renamed_here_while_away_is_renamed_in_the_session() -> None:
    plan = start({"old.py": "A\nmore\n", "keep.py": "K\n"}, {"new.py": "A\n", "keep.py": "K\n"},
                 {"old.py": text_hash("A\n"), "keep.py": text_hash("K\n")}, deletes=True)
    assert plan["old.py"] == []
    # Renamed in the session, then the session's newer text (edited there meanwhile) written to the new path.
    assert plan["new.py"] == [RenameInSession("new.py", "old.py"), Write("new.py", "A\nmore\n")]
    # Only for a folder of this room's last run (deletes): otherwise a file the session lacks is new.
    fresh = start({"old.py": "A\n"}, {"new.py": "A\n"}, {"old.py": text_hash("A\n")})
    assert fresh["new.py"] == [Send("new.py", "A\n", base="A\n")] and fresh["old.py"] == [Write("old.py", "A\n")]
