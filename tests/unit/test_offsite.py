"""Offsite backups (roost.offsite) through the fake host: the spec keys, the app's upload after
a backup, the trusted side's prune that checks what restic claims, the drill's throwaway spec."""

from __future__ import annotations

import json

import pytest

from roost import backup
from roost.errors import RoostError, UsageError
from roost.host.runner import Result
from roost.offsite import drill, restic, trusted, upload
from roost.offsite import state as offsite_state
from roost.spec.load import parse_spec
from roost.spec.model import OFFSITE_SECRET, Keep
from tests.unit.fakeapp import EXAMPLE, HOME, world
from tests.unit.fakehost import FakeHost

REPO = "rest:http://127.0.0.1:8000/notes"
OFFSITE = f'\n[backup.offsite]\nrepository = "{REPO}"\nupload_limit = 512\n'
SUMMARY = {"message_type": "summary", "snapshot_id": "ab" * 32, "data_added": 2000, "data_added_packed": 900,
           "total_bytes_processed": 5000, "total_duration": 1.5}


def snap_json(*times: str) -> str:
    return json.dumps([{"id": f"{i:064x}", "short_id": f"{i:08x}", "time": t, "tags": ["roost-app:notes"],
                        "summary": {"total_bytes_processed": 10}} for i, t in enumerate(times, 1)])


# -- the spec ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("repo", [REPO, "rest:https://backup.example.net/notes", "/mnt/usb/restic",
                                  "sftp:backup@vault.example.net:/srv/restic/notes", "s3:s3.example.net/bucket/notes"])
def test_repositories_roost_knows_load(repo):
    spec = parse_spec(EXAMPLE + f'\n[backup.offsite]\nrepository = "{repo}"\n', "s.toml")
    assert spec.backup.offsite is not None and spec.backup.offsite.repository == repo
    assert OFFSITE_SECRET in spec.generated_secrets() and OFFSITE_SECRET not in spec.secrets


@pytest.mark.parametrize("repo, expect", [
    ("rest:https://admin:hunter2@backup.example.net/notes", "holds a password"),
    ("ftp://backup.example.net/notes", "not a restic repository"),
    ("relative/path", "not a restic repository"),
    ("/mnt/usb/../etc", "not a restic repository"),
    ("rest:http://host/notes; rm -rf /", "not a restic repository"),
])
def test_bad_repositories_are_located_errors(repo, expect):
    with pytest.raises(UsageError) as e:
        parse_spec(EXAMPLE + f'\n[backup.offsite]\nrepository = "{repo}"\n', "s.toml")
    assert "backup.offsite.repository" in e.value.message and expect in e.value.message


def test_a_retention_that_keeps_nothing_is_refused():
    with pytest.raises(UsageError, match="keep at least one"):
        parse_spec(EXAMPLE + OFFSITE + "keep = { daily = 0, weekly = 0, monthly = 0 }\n", "s.toml")


# -- restic's answers -------------------------------------------------------------------------------------------------

def test_snapshots_parse_oldest_first_with_their_app():
    snaps = restic.parse_snapshots(snap_json("2026-12-03T17:17:17.940989401Z", "2026-12-01T03:00:00Z"))
    assert [s.time[:10] for s in snaps] == ["2026-12-01", "2026-12-03"]
    assert snaps[0].app == "notes" and snaps[1].timestamp - snaps[0].timestamp == pytest.approx(2 * 86400 + 51437, abs=1)


@pytest.mark.parametrize("code, expect", [(12, "wrong password"), (10, "no restic repository"), (11, "locked"),
                                          (1, "failed (restic exit 1)")])
def test_restic_exit_codes_say_what_to_do(code, expect):
    err = restic.explain(Result(("restic",), code, "", "Fatal: something\n"), REPO, "listing")
    assert expect in err.message


# -- the app's side ---------------------------------------------------------------------------------------------------

@pytest.fixture
def w(tmp_path):
    w = world(tmp_path, EXAMPLE + OFFSITE)
    w.files[w.app.layout.secret_file(OFFSITE_SECRET)] = b"the-repository-password\n"
    w.restic: list[tuple[list[str], str | None]] = []  # type: ignore[attr-defined]
    return w


def fake_restic(w, backup_code: int = 0, exists: bool = True):
    def answer(argv, user, stdin):
        w.restic.append((argv, user.name if user else None))
        if "cat" in argv:
            return Result(tuple(argv), 0 if exists else 10, "", "" if exists else "Fatal: repository does not exist")
        if "backup" in argv:
            if backup_code:
                return Result(tuple(argv), backup_code, "", "Fatal: unable to save snapshot: 403 Forbidden\n")
            return json.dumps(SUMMARY) + "\n"
        return ""
    w.host.on("restic", answer=answer)
    w.host.on("env", "-C", answer=answer)


def test_a_backup_goes_offsite_from_the_staging_as_the_app_user_with_a_password_file(w):
    fake_restic(w, exists=False)
    path = backup.take_recorded(w.app, "scheduled")
    calls = [argv for argv, who in w.restic]
    assert all(who == "notes" for _, who in w.restic)
    assert [c for c in calls if "init" in c], "a new repository is created by the first upload"
    up = next(c for c in calls if "backup" in c)
    assert up[:3] == ["env", "-C", up[2]] and ".notes-staging." in up[2] and up[-1] == "."
    assert ["--password-file", w.app.layout.secret_file(OFFSITE_SECRET)] == up[up.index("--password-file"):][:2]
    assert "--limit-upload" in up and "512" in up and "roost-app:notes" in up
    assert not any("the-repository-password" in " ".join(c) for c in w.host.calls), "the password reached argv"
    assert not any(a in ("forget", "prune") for c in calls for a in c), "the app's side never deletes"
    entries = w.app.history()
    assert [(e["action"], e["result"]) for e in entries] == [("backup", "ok"), ("offsite", "ok")]
    assert entries[1]["snapshot"] == "ab" * 32 and entries[1]["bytes_added"] == 900
    assert entries[0]["backup"] == path and w.archives() == [path]
    state = json.loads(w.files[f"{HOME}/.local/state/roost/offsite.json"])
    assert state["snapshot"] == "ab" * 32


def test_a_failed_upload_keeps_the_local_backup_and_fails_loudly(w):
    fake_restic(w, backup_code=1)
    with pytest.raises(RoostError) as e:
        backup.take_recorded(w.app, "scheduled")
    assert "offsite copy failed" in e.value.message and "403 Forbidden" in e.value.message
    assert len(w.archives()) == 1  # the local archive stays
    assert [(x["action"], x["result"]) for x in w.app.history()] == [("backup", "ok"), ("offsite", "failed")]
    assert not [d for d in w.dirs if "staging" in d]


def test_an_app_without_offsite_never_runs_restic(tmp_path):
    w = world(tmp_path)
    backup.take_recorded(w.app)
    assert not [c for c in w.host.calls if "restic" in c]


def test_status_reads_the_state_file_as_untrusted(tmp_path):
    w = world(tmp_path)
    layout = w.app.layout
    host = FakeHost()
    host.files[f"{layout.state_dir}/offsite.json"] = json.dumps({"time": 5.0, "snapshot": "abc[red]x"})
    assert offsite_state.read_state(host, layout) == {"time": 5.0, "snapshot": ""}
    host.files[f"{layout.state_dir}/offsite.json"] = "[not json"
    assert offsite_state.read_state(host, layout) == {}


# -- the trusted side -------------------------------------------------------------------------------------------------

def prune_host(after: str, forget_code: int = 0) -> FakeHost:
    host = FakeHost()
    listings = iter([snap_json("2026-12-03T01:00:00Z", "2026-12-03T02:00:00Z"), after])
    host.on("restic", answer=lambda argv, user, stdin: (
        Result(tuple(argv), 0, next(listings), "") if "snapshots" in argv
        else Result(tuple(argv), forget_code, "", "")))
    return host


def test_prune_that_an_append_only_server_refused_is_an_error_although_restic_exited_0():
    host = prune_host(after=snap_json("2026-12-03T01:00:00Z", "2026-12-03T02:00:00Z"))
    with pytest.raises(RoostError) as e:
        trusted.prune(host, "notes", REPO, "pw", Keep(daily=1, weekly=0, monthly=0))
    assert "refused to delete" in e.value.message and "restic reported success" in e.value.message
    assert "trusted side" in (e.value.hint or "")
    forget = next(c for c in host.calls if "forget" in c)
    assert "--keep-daily" in forget and "--prune" in forget and "pw" not in forget


def test_prune_from_the_trusted_side_keeps_what_the_retention_says():
    host = prune_host(after=snap_json("2026-12-03T02:00:00Z"))
    assert trusted.prune(host, "notes", REPO, "pw", Keep(daily=1, weekly=0, monthly=0)) == (2, 1)


def test_retention_counts_one_snapshot_per_bucket():
    snaps = restic.parse_snapshots(snap_json("2026-11-01T01:00:00Z", "2026-12-02T01:00:00Z", "2026-12-03T01:00:00Z",
                                             "2026-12-03T02:00:00Z"))
    assert trusted.expected_kept(snaps, Keep(daily=7, weekly=0, monthly=0)) == 3
    assert trusted.expected_kept(snaps, Keep(daily=1, weekly=0, monthly=2)) == 2


# -- the drill's copy -------------------------------------------------------------------------------------------------

def test_the_drill_copy_is_another_app_that_reaches_nothing_outside():
    text = EXAMPLE + OFFSITE + '\n[notify]\nurls_file = "n.urls"\n'
    spec = parse_spec(text, "s.toml")
    copy = parse_spec(drill.throwaway_spec(text, spec, "notes-drill", port=lambda: 40001), "c.toml")
    assert copy.name == "notes-drill" and copy.home == "/srv/roost/notes-drill" and copy.app.uid is None
    assert copy.pod.publish == ("127.0.0.1:40001:3000",)
    assert copy.backup.offsite is None and copy.notify is None and copy.web is None
    assert copy.containers == spec.containers  # the same images, env and volumes (relative to its own home)
    assert drill.copy_name("a" * 31) == "a" * 25 + "-drill"


def test_the_drill_refuses_a_volume_outside_the_home():
    text = EXAMPLE.replace('volumes = ["uploads:/srv/uploads:Z"]', 'volumes = ["/var/backups/x:/srv/uploads:Z"]')
    text = text.replace('uid = 2100', 'uid = 2100\nallow_host_paths = ["/var/backups/x"]')
    spec = parse_spec(text, "s.toml")
    with pytest.raises(UsageError, match="outside the app's home"):
        drill.throwaway_spec(text, spec, "notes-drill")


def test_two_dumps_that_differ_only_in_the_restrict_key_match():
    a, b = drill.DumpDigest(), drill.DumpDigest()
    for chunk in (b"-- dump\n\\restrict abc123\nCREATE TA", b"BLE notes();\n\\unrestrict abc123\n"):
        a.feed(chunk)
    b.feed(b"-- dump\n\\restrict ZZZ\nCREATE TABLE notes();\n\\unrestrict ZZZ\n")
    assert a.hexdigest() == b.hexdigest()
    c = drill.DumpDigest()
    c.feed(b"-- dump\nCREATE TABLE other();\n")
    assert c.hexdigest() != a.hexdigest()


# -- recover: nothing is created until the snapshot checked out -------------------------------------------------------

def snapshot_tar(members: dict[str, bytes], manifest: dict) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {**members, "manifest.json": json.dumps(manifest).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def genuine(tamper: bool = False) -> bytes:
    import hashlib

    members = {"spec.toml": EXAMPLE.encode(), "db-database.sql": b"-- dump\n", "secrets/db_password": b"s3cret\n"}
    files = {n: hashlib.sha256(b).hexdigest() for n, b in members.items()}
    if tamper:
        members["db-database.sql"] = b"-- dump, changed after the backup\n"
    manifest = {"format": 2, "app": "notes", "created": "20261203T030000Z", "volumes": {},
                "databases": {"database": {"file": "db-database.sql"}}, "files": files}
    return snapshot_tar(members, manifest)


@pytest.fixture
def recovering(tmp_path, monkeypatch):
    from roost.offsite import recover as rc

    applied: list[dict] = []
    monkeypatch.setattr(rc, "WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setattr(rc, "ROOST_STATE_DIR", str(tmp_path))
    (tmp_path / "work").mkdir()
    real_make_dir = FakeHost.make_dir

    def make_dir(self, path, **kw):  # root's own work folder is real: restic writes the tar there
        real_make_dir(self, path, **kw)
        if path.startswith(str(tmp_path)):
            __import__("os").makedirs(path, exist_ok=True)

    monkeypatch.setattr(FakeHost, "make_dir", make_dir)
    monkeypatch.setattr(rc, "apply_spec", lambda host, path, text, seeds, ui: applied.append(seeds))
    return rc, applied


def restic_serving(listing: str, tar: bytes = b"", code: int = 0) -> FakeHost:
    host = FakeHost()

    def answer(argv, user, stdin):
        assert stdin == "pw\n" and "pw" not in argv and user is None
        if code:
            return Result(tuple(argv), code, "", "Fatal: wrong password or no key found\n")
        if "snapshots" in argv:
            return listing
        if "dump" in argv:
            with open(argv[argv.index("--target") + 1], "wb") as fh:
                fh.write(tar)
        return ""
    host.on("restic", answer=answer)
    return host


@pytest.mark.parametrize("case, host, expect", [
    ("wrong password", lambda: restic_serving("", code=12), "wrong password"),
    ("empty repository", lambda: restic_serving("[]"), "holds no snapshot of app notes (it is empty)"),
    ("damaged snapshot", lambda: restic_serving(snap_json("2026-12-03T03:00:00Z"), genuine(tamper=True)),
     "files.db-database.sql: the checksum does not match"),
])
def test_recover_refuses_before_creating_anything(recovering, case, host, expect):
    rc, applied = recovering
    h = host()
    with pytest.raises(UsageError) as e:
        rc.recover(h, REPO, "pw", "notes", say=lambda m: None)
    assert expect in e.value.message, case
    assert applied == [] and not [r for r in h.record if r.startswith("write")], f"{case}: something was created"
    assert [c for c in h.calls if c[:3] == ("rm", "-rf", "--one-file-system")], "root's work folder stays"


def test_fetch_hands_the_snapshots_secrets_to_apply(recovering, tmp_path):
    rc, _ = recovering
    h = restic_serving(snap_json("2026-12-01T03:00:00Z", "2026-12-03T03:00:00Z"), genuine())
    work = rc.workdir(h, "notes")
    fetched = rc.fetch(h, REPO, "pw", "notes", work, say=lambda m: None)
    assert fetched.snapshot.time.startswith("2026-12-03") and fetched.secrets == {"db_password": "s3cret"}
    assert fetched.spec.name == "notes" and fetched.manifest.databases == {"database": "db-database.sql"}
    dump = next(c for c in h.calls if "dump" in c)
    assert dump[-2:] == (fetched.snapshot.id, "/") and "--no-cache" in dump


def test_apply_generates_the_repository_password_once_and_recover_can_seed_it(tmp_path):
    from roost.apply import prepare
    from roost.plan import actions as A
    from roost.plan.context import Context
    from tests.unit.fakehost import bare_host

    examples = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"
    (tmp_path / "application.env").write_text((examples / "application.env").read_text())
    spec = tmp_path / "hedgedoc.toml"
    spec.write_text((examples / "hedgedoc.toml").read_text() + OFFSITE)
    host = bare_host()
    prep = prepare(spec, host)
    gen = [a for a in prep.plan.actions if isinstance(a, A.GenerateSecret) and a.name == OFFSITE_SECRET]
    assert [(g.path, g.length) for g in gen] == [("/srv/hedgedoc/.config/roost/secrets/offsite-password", 48)]
    ctx = Context(host, prep.desired.layout, prep.desired.identity, prep.user, None, 1.0,
                  seeds={OFFSITE_SECRET: "from-the-recovery-kit"})  # what execute(seeds=...) builds
    gen[0].execute(ctx)
    assert host.files[gen[0].path] == "from-the-recovery-kit\n"
    st = host.stats[gen[0].path]
    assert (st.mode, st.uid, st.gid) == (0o600, gen[0].uid, gen[0].gid)


def test_credentials_for_the_app_side_stay_in_a_file_restic_reads(w):
    fake_restic(w)
    address = w.app.layout.secret_file(upload.REPOSITORY_SECRET)
    w.files[address] = b"rest:https://notes:app-credential@backup.example.net/notes\n"
    backup.take_recorded(w.app)
    up = next(argv for argv, _ in w.restic if "backup" in argv)
    assert up[up.index("--repository-file") + 1] == address and "--repo" not in up
    assert not any("app-credential" in " ".join(c) for c in w.host.calls)
