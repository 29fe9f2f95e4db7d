"""roost db upgrade through the fake host: the happy path, each refusal, the undo when a step
fails, and an upgrade cut short after each step (as a SIGKILL would leave it), which the next
command finishes or undoes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roost import db_upgrade, upgrade_marker
from roost.errors import RoostError, UsageError
from roost.spec.load import parse_spec
from tests.unit.fakeapp import DB_IMAGE, EXAMPLE, HOME, World, iid, world

VOLUME = f"{HOME}/database"
PG_VERSION = f"{VOLUME}/pgdata/PG_VERSION"


class Killed(BaseException):
    """What SIGKILL does to roost at a point: nothing after it runs, not even the undo."""


def quiet(*a, **k) -> None:
    return None


@pytest.fixture
def w(tmp_path) -> World:
    return world(tmp_path)


def applier(w: World):
    """apply_spec as the pipeline does it, in miniature: the image the spec names runs; an
    empty data directory is initialised by the new server."""
    calls: list[str] = []

    def apply_spec(path: str) -> None:
        text = Path(path).read_text()
        calls.append(text)
        image = re.search(r'image = "([^"]*postgres:(\d+))"', text)
        assert image
        ref, major = image.group(1), int(image.group(2))
        w.local.setdefault(ref, iid(f"pg{major}"))
        w.majors[w.local[ref]] = major
        if not any(p.startswith(VOLUME + "/") for p in w.files):
            w.dirs.add(VOLUME)
            w.files[PG_VERSION] = f"{major}\n".encode()
        w.running["database"] = w.local[ref]
        w.active |= {w.app.layout.pod_service, "database.service", "app.service"}

    return apply_spec, calls


def on_disk(w: World) -> str:
    return w.files.get(PG_VERSION, b"").decode().strip()


def test_upgrade_dumps_moves_applies_restores_and_verifies(w):
    apply_spec, calls = applier(w)
    info = db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    assert info and (info["from"], info["to"], info["rows"], info["tables"]) == (17, 18, 3, 1)
    assert info["image"] == "127.0.0.1:5000/roost-lab/postgres:18"
    assert '"127.0.0.1:5000/roost-lab/postgres:18"' in Path(w.spec_path).read_text()
    assert on_disk(w) == "18" and w.files[f"{info['kept']}/pgdata/PG_VERSION"] == b"17\n"
    assert w.files[info["dump"]] == w.dumps["database"]  # streamed to a file in ~/backups
    assert w.psql_in == [("database", w.dumps["database"])]
    assert upgrade_marker.read(w.host, w.app.layout) is None
    # home work as the app user: the move, the dump; never root
    moves = [r for r in w.host.record if r.startswith("mv ")]
    assert moves == [f"mv -T -- {VOLUME} {info['kept']} (as notes)"]
    assert len(calls) == 1
    # the app, started on the empty cluster by the apply, is stopped until the dump is in a database made
    # afresh (Miniflux's migrations had run there and the restore failed on them), rows counted, then started
    steps = [" ".join(c) for c in w.host.calls]
    at = {what: next(i for i, c in enumerate(steps) if c.startswith(what)) for what in (
        "systemctl --user stop app.service", "podman exec notes-database psql -q -v ON_ERROR_STOP=1 -U notes -d postgres",
        "podman exec -i notes-database psql", "systemctl --user start notes-pod.service database.service app.service")}
    assert list(at.values()) == sorted(at.values()), at
    assert 'DROP DATABASE IF EXISTS "notes" WITH (FORCE)' in steps[list(at.values())[1]] and w.recreated == ["database"]
    counted_after = [i for i, c in enumerate(steps) if "SELECT count(*)" in c][-1]
    assert list(at.values())[2] < counted_after < list(at.values())[3]
    assert "app.service" in w.active


def test_writers_are_every_container_the_database_does_not_need():
    spec = parse_spec(EXAMPLE, "notes.toml")
    assert db_upgrade.writers(spec, "database") == ["app"]
    assert db_upgrade.writers(spec, "app") == []  # the app needs the database: neither is stopped


def test_the_marker_is_root_owned_and_outside_the_home(w, monkeypatch):
    seen = []
    real = upgrade_marker.write

    def spy(host, layout, marker):
        real(host, layout, marker)
        seen.append((marker.step, host.stats[layout.db_upgrade_marker]))

    monkeypatch.setattr(upgrade_marker, "write", spy)
    db_upgrade.upgrade(w.app, "database", 18, applier(w)[0], say=quiet)
    assert [s for s, _ in seen] == ["started", "dumped", "stopped", "moved", "spec-written", "restored"]
    assert all((st.uid, st.gid, st.mode) == (0, 0, 0o600) for _, st in seen)
    assert w.app.layout.db_upgrade_marker == "/var/lib/roost/apps/notes/db-upgrade.json"
    assert w.host.dirs["/var/lib/roost/apps/notes"].uid == 0  # root's folder (0755: the app user reads the record)


@pytest.mark.parametrize("edit,container,to,expect", [
    (None, "app", 18, "'app' is not a PostgreSQL container of notes"),
    (None, "database", 17, "already holds PostgreSQL 17"),
    (lambda t: t.replace("PGDATA = \"/var/lib/postgresql/data/pgdata\"", "PGDATA = \"/var/lib/postgresql/data/../../../etc\""),
     "database", 18, "containers.database.env.PGDATA: '/var/lib/postgresql/data/../../../etc' must be a normalised"),
    (lambda t: t.replace("PGDATA = \"/var/lib/postgresql/data/pgdata\"", "PGDATA = \"/elsewhere\""),
     "database", 18, "PGDATA is not on a volume"),
    (lambda t: t.replace('"database:/var/lib/postgresql/data:Z"', '"/srv/other:/var/lib/postgresql/data:Z"')
     .replace('uid = 2100', 'uid = 2100\nallow_host_paths = ["/srv/other"]'),
     "database", 18, "/srv/other is not inside /srv/roost/notes"),
])
def test_refusals_change_nothing(tmp_path, edit, container, to, expect):
    w = world(tmp_path, edit(EXAMPLE) if edit else EXAMPLE)
    apply_spec, calls = applier(w)
    with pytest.raises(UsageError, match=re.escape(expect)):
        db_upgrade.upgrade(w.app, container, to, apply_spec, say=quiet)
    assert not w.host.record and not calls
    assert upgrade_marker.read(w.host, w.app.layout) is None


def test_no_data_directory_is_refused(w):
    del w.files[PG_VERSION]
    with pytest.raises(UsageError, match="no PostgreSQL data in"):
        db_upgrade.upgrade(w.app, "database", 18, applier(w)[0], say=quiet)


def test_the_image_must_appear_once_in_the_spec_file(w):
    Path(w.spec_path).write_text(EXAMPLE + f'\n# was "{DB_IMAGE}"\n')
    with pytest.raises(UsageError, match="exactly once"):
        db_upgrade.upgrade(w.app, "database", 18, applier(w)[0], say=quiet)


@pytest.mark.parametrize("failure", ["psql", "apply", "ctrl-c"])
def test_a_failed_step_puts_back_the_old_major_and_data(w, failure):
    apply_spec, _ = applier(w)
    if failure == "psql":
        w.failing.add("psql")
    boom: type[BaseException] = KeyboardInterrupt if failure == "ctrl-c" else RoostError

    def flaky_apply(path: str) -> None:
        if "postgres:18" in Path(path).read_text() and failure != "psql":
            raise boom("interrupted") if boom is KeyboardInterrupt else RoostError("apply failed")
        apply_spec(path)

    with pytest.raises((RoostError, KeyboardInterrupt)):
        db_upgrade.upgrade(w.app, "database", 18, flaky_apply, say=quiet)
    assert Path(w.spec_path).read_text() == EXAMPLE
    assert on_disk(w) == "17"
    assert w.running["database"] == iid("pg17") and "notes-pod.service" in w.active
    assert upgrade_marker.read(w.host, w.app.layout) is None


def die_after(monkeypatch, step: str) -> None:
    """roost is killed right after the marker records `step` (a killed process undoes nothing)."""
    real_write = upgrade_marker.write

    def write_then_die(host, layout, marker):
        real_write(host, layout, marker)
        if marker.step == step:
            raise Killed

    monkeypatch.setattr(upgrade_marker, "write", write_then_die)
    monkeypatch.setattr(db_upgrade, "_undo", lambda *a: None)


@pytest.mark.parametrize("killed_after", ["started", "dumped", "stopped", "moved", "spec-written"])
def test_cut_short_before_the_restore_is_undone_then_done_by_the_next_command(w, monkeypatch, killed_after):
    apply_spec, _ = applier(w)
    die_after(monkeypatch, killed_after)
    with pytest.raises(Killed):
        db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    monkeypatch.undo()
    pending = upgrade_marker.read(w.host, w.app.layout)
    assert pending and pending.step == killed_after
    # the next command loads the app afresh: its spec is the one the killed run had applied, if it got that far
    w.app.spec = parse_spec(Path(w.spec_path).read_text(), "applied")
    # the next command: undo what was half done, then the upgrade runs again, whole
    info = db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    assert info and info["to"] == 18 and on_disk(w) == "18"
    assert w.files[f"{info['kept']}/pgdata/PG_VERSION"] == b"17\n"
    assert upgrade_marker.read(w.host, w.app.layout) is None
    assert '"127.0.0.1:5000/roost-lab/postgres:18"' in Path(w.spec_path).read_text()


def test_cut_short_after_the_restore_is_finished_by_the_next_command(w, monkeypatch):
    apply_spec, calls = applier(w)
    die_after(monkeypatch, "restored")
    with pytest.raises(Killed):
        db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    monkeypatch.undo()
    dumps = len(w.psql_in)
    info = db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    assert info and info["to"] == 18 and len(w.psql_in) == dumps and len(calls) == 1  # verified, not redone
    assert upgrade_marker.read(w.host, w.app.layout) is None


def test_undo_of_a_cut_short_upgrade(w, monkeypatch):
    apply_spec, _ = applier(w)
    die_after(monkeypatch, "spec-written")
    with pytest.raises(Killed):
        db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    monkeypatch.undo()
    assert on_disk(w) == ""  # the data directory is aside: the app is between majors
    assert db_upgrade.upgrade(w.app, "database", None, apply_spec, say=quiet, undo=True) is None
    assert on_disk(w) == "17" and Path(w.spec_path).read_text() == EXAMPLE
    assert upgrade_marker.read(w.host, w.app.layout) is None
    assert w.running["database"] == iid("pg17")


def test_undo_without_an_interrupted_upgrade_is_refused(w):
    with pytest.raises(UsageError, match="no interrupted db upgrade of notes to undo"):
        db_upgrade.upgrade(w.app, "database", None, applier(w)[0], say=quiet, undo=True)


def test_row_counts_that_differ_are_reported_with_the_old_data_kept(w):
    apply_spec, _ = applier(w)

    def lossy_apply(path: str) -> None:
        apply_spec(path)
        w.rows["public.notes"] = 2

    with pytest.raises(RoostError, match=r"row counts differ after the restore: \{'public.notes': \(3, 2\)\}") as e:
        db_upgrade.upgrade(w.app, "database", 18, lossy_apply, say=quiet)
    assert "the old data is kept in /srv/roost/notes/database.pg17-" in (e.value.hint or "")


def test_without_to_nothing_is_touched_even_with_an_upgrade_cut_short(w, monkeypatch):
    apply_spec, _ = applier(w)
    die_after(monkeypatch, "moved")
    with pytest.raises(Killed):
        db_upgrade.upgrade(w.app, "database", 18, apply_spec, say=quiet)
    monkeypatch.undo()
    record = list(w.host.record)
    with pytest.raises(UsageError, match="--to is required"):
        db_upgrade.upgrade(w.app, "database", None, apply_spec, say=quiet)
    assert w.host.record == record and upgrade_marker.read(w.host, w.app.layout)
