"""backup, backups (retention) and restore through the fake host (tests/unit/fakeapp.py)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile

import pytest

from roost import backup
from roost.errors import RoostError, UsageError
from roost.upgrade_marker import Marker, write
from tests.unit.fakeapp import EXAMPLE, HOME, World, world

BACKUPS = f"{HOME}/backups"
LATIN1_DUMP = "-- dump\nINSERT INTO notes VALUES ('café crème');\n".encode("latin-1")


@pytest.fixture
def w(tmp_path) -> World:
    return world(tmp_path)


def members(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def test_backup_writes_one_archive_with_a_checksum_of_every_member(w):
    path = backup.take(w.app)
    assert re.fullmatch(rf"{BACKUPS}/notes-\d{{8}}T\d{{6}}Z\.tar\.gz", path)
    assert w.archives() == [path]
    got = members(w.files[path])
    manifest = json.loads(got.pop("manifest.json"))
    assert set(got) == {"db-database.sql", "vol-uploads.tar", "spec.toml", "secrets/db_password"}
    assert manifest["format"] == 2 and manifest["app"] == "notes"
    assert manifest["files"] == {n: hashlib.sha256(b).hexdigest() for n, b in got.items()}
    assert got["db-database.sql"] == w.dumps["database"]
    assert manifest["volumes"] == {"uploads": f"{HOME}/uploads"}
    assert manifest["images"]["database"]["id"] == w.running["database"]
    # nothing left behind but the archive; every command ran as the app user
    assert [p for p in w.under(BACKUPS)] == [path] and not [d for d in w.dirs if "staging" in d]
    assert all(r.endswith("(as notes)") for r in w.host.record), w.host.record
    assert w.commands("chmod")[0][:3] == ("chmod", "0600", "--")


def test_members_are_written_with_o_excl_and_the_archive_renamed_into_place(w):
    path = backup.take(w.app)
    sinks = [c for c in w.commands("dd")]
    assert sinks and all("conv=excl" in c for c in sinks)
    mktemps = w.commands("mktemp")
    assert [c[-1] for c in mktemps] == [".notes-staging.XXXXXXXXXX", f".{path.rsplit('/', 1)[1]}.XXXXXXXXXX"]
    mv = w.commands("mv")[-1]
    assert mv[:2] == ("mv", "-T") and mv[-1] == path and mv[-2].startswith(f"{BACKUPS}/.notes-")


def test_a_latin1_dump_is_kept_byte_for_byte(w):
    w.dumps["database"] = LATIN1_DUMP
    path = backup.take(w.app)
    assert members(w.files[path])["db-database.sql"] == LATIN1_DUMP


@pytest.mark.parametrize("failing,where", [("dump", "db-database.sql"), ("pack", "tar")])
def test_a_failed_step_leaves_no_archive_and_no_partial(w, failing, where):
    backup.take(w.app)
    before = dict(w.under(BACKUPS))
    if failing == "pack":
        w.host.on("tar", "-C", answer=lambda argv, user, stdin: w.coreutils(argv, user, stdin) if "-czf" not in argv
                  else w.coreutils(["false-tar"], user, stdin))
    else:
        w.failing.add(failing)
    with pytest.raises(RoostError, match=where):
        backup.take(w.app)
    assert w.under(BACKUPS) == before
    assert not [d for d in w.dirs if "staging" in d]


def test_retention_keeps_the_newest_and_never_counts_partial_archives(tmp_path):
    w = world(tmp_path, EXAMPLE + "\n[backup]\nkeep = 2\n")
    for stamp in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        w.files[f"{BACKUPS}/notes-{stamp}.tar.gz"] = b"old"
    partial = f"{BACKUPS}/.notes-20270101T000000Z.tar.gz.Rabcdefghi"
    stray = f"{BACKUPS}/notes-20990101T000000Z.tar.gz\nnotes-x"  # a newline cannot split the listing
    w.files[partial] = w.files[stray] = b"half"
    newest = backup.take(w.app)
    names = [b.path for b in backup.listing(w.app)]
    assert names == [f"{BACKUPS}/notes-20260103T000000Z.tar.gz", newest]
    assert partial in w.files and stray in w.files  # not counted, not removed
    assert backup.prune(w.app, 1) == ["notes-20260103T000000Z"]


def test_two_backups_in_the_same_second_get_two_names(w, monkeypatch):
    monkeypatch.setattr(backup.time, "strftime", lambda fmt, t=None: "20261130T040000Z")
    assert backup.take(w.app).endswith("notes-20261130T040000Z.tar.gz")
    assert backup.take(w.app).endswith("notes-20261130T040000Z-2.tar.gz")


def test_restore_puts_volumes_and_database_back_after_a_safety_backup(w):
    genuine = backup.take(w.app)
    name = genuine.rsplit("/", 1)[1].removesuffix(".tar.gz")
    w.files[f"{HOME}/uploads/new-file"] = b"written after the backup"
    safety = backup.restore(w.app, name, say=lambda m: None)
    assert safety and safety != genuine and len(w.archives()) == 2
    assert w.untarred == {f"{HOME}/uploads": b"tar of /srv/roost/notes/uploads"}
    assert w.psql_in == [("database", w.dumps["database"])]
    # the replaced data was kept aside until the end, then dropped; the app runs
    assert not [p for p in [*w.files, *w.dirs] if ".pre-restore-" in p]
    assert f"{HOME}/uploads/new-file" not in w.files
    assert {"notes-pod.service", "database.service", "app.service"} <= w.active
    assert not [d for d in w.dirs if "restore." in d]
    stop = w.host.calls.index(("systemctl", "--user", "stop", "notes-pod.service"))
    checked = w.host.calls.index(("cat", "--", genuine))
    assert checked < stop, "the archive was not checked before the app stopped"


def test_restore_of_a_stopped_app_takes_no_dump_and_still_restores(w):
    name = backup.take(w.app).rsplit("/", 1)[1].removesuffix(".tar.gz")
    w.active.clear()
    assert backup.restore(w.app, name, say=lambda m: None) is None
    assert len(w.archives()) == 1 and w.psql_in and "app.service" in w.active


def forge(w: World, edit) -> str:
    """Rewrite the genuine archive's members with edit(members) -> members, as the app user could."""
    genuine = backup.take(w.app)
    got = members(w.files[genuine])
    got = edit(got)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for n, data in got.items():
            if isinstance(data, tarfile.TarInfo):
                tar.addfile(data)
                continue
            info = tarfile.TarInfo(n if n.startswith("/") else "./" + n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    forged = f"{BACKUPS}/notes-20990101T000000Z.tar.gz"
    w.files[forged] = buf.getvalue()
    return "notes-20990101T000000Z"


def _link(name: str, to: str) -> tarfile.TarInfo:
    t = tarfile.TarInfo("./" + name)
    t.type, t.linkname = tarfile.SYMTYPE, to
    return t


def _manifest(edit):
    def change(got):
        m = json.loads(got["manifest.json"])
        edit(m)
        return {**got, "manifest.json": json.dumps(m).encode()}
    return change


REFUSALS = [
    ("absolute member", lambda g: {**g, "/etc/shadow": b"x"}, "member '/etc/shadow' is an absolute name"),
    ("symlink member", lambda g: {**{k: v for k, v in g.items() if k != "vol-uploads.tar"},
                                  "vol-uploads.tar": _link("vol-uploads.tar", "/etc/shadow")}, "is a symbolic link"),
    ("tampered dump", lambda g: {**g, "db-database.sql": b"DROP TABLE notes;"}, "checksum does not match"),
    ("volume sent to /etc", _manifest(lambda m: m["volumes"].update(uploads="/etc")), "is not where the spec keeps it"),
    ("foreign member", lambda g: {**g, "vol-etc.tar": b"x"}, "not something a backup of this spec holds"),
]


@pytest.mark.parametrize("edit,expect", [(e, x) for _, e, x in REFUSALS], ids=[c for c, _, _ in REFUSALS])
def test_restore_refuses_a_forged_archive_before_stopping_anything(w, edit, expect):
    name = forge(w, edit)
    archives = w.archives()
    with pytest.raises(UsageError, match=re.escape(expect)) as e:
        backup.restore(w.app, name, say=lambda m: None)
    assert f"{BACKUPS}/{name}.tar.gz: " in e.value.message
    assert not w.commands("systemctl", "--user", "stop")
    assert w.archives() == archives  # no safety backup either: nothing was about to change
    assert not w.psql_in and not w.untarred
    assert not [d for d in w.dirs if "restore." in d]


def test_a_failed_restore_puts_the_data_back_and_starts_the_app(w):
    name = backup.take(w.app).rsplit("/", 1)[1].removesuffix(".tar.gz")
    w.files[f"{HOME}/uploads/today"] = b"today's upload"
    w.files[f"{HOME}/database/pgdata/base"] = b"today's rows"
    w.failing.add("psql")
    with pytest.raises(RoostError, match="restore of database notes failed"):
        backup.restore(w.app, name, say=lambda m: None)
    assert w.files[f"{HOME}/uploads/today"] == b"today's upload"
    assert w.files[f"{HOME}/database/pgdata/base"] == b"today's rows"
    assert not [p for p in [*w.files, *w.dirs] if ".pre-restore-" in p]
    assert {"notes-pod.service", "database.service", "app.service"} <= w.active


def test_restore_of_an_unknown_backup_lists_the_known_ones(w):
    name = backup.take(w.app).rsplit("/", 1)[1].removesuffix(".tar.gz")
    with pytest.raises(UsageError, match=f"no backup 'nope' of app notes \\(backups: {name}\\)"):
        backup.restore(w.app, "nope")


@pytest.mark.parametrize("verb", ["take", "restore"])
def test_backup_and_restore_refuse_while_a_db_upgrade_is_cut_short(w, verb):
    write(w.host, w.app.layout, Marker("database", 16, 17, "S", "moved", f"{HOME}/database", f"{HOME}/database.pg16-S",
                                       f"{BACKUPS}/d.sql", w.spec_path, "", "pg:17", {}))
    with pytest.raises(UsageError, match="stopped at step 'moved'") as e:
        backup.take(w.app) if verb == "take" else backup.restore(w.app, "x")
    assert "roost db upgrade notes database --to 17" in (e.value.hint or "")
    assert not w.archives()


def test_take_recorded_writes_the_history_entry_either_way(w):
    path = backup.take_recorded(w.app, "manual")
    [entry] = w.app.history()
    assert (entry["action"], entry["result"], entry["backup"]) == ("backup", "ok", path)
    w.host.on("podman", "exec", answer="", code=1)  # pg_dump fails
    with pytest.raises(RoostError):
        backup.take_recorded(w.app, "scheduled")
    last = w.app.history()[-1]
    assert (last["action"], last["result"], last["reason"]) == ("backup", "failed", "scheduled")
