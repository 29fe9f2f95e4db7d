"""update (incl. rollback when unhealthy), update --dry-run (check), rollback [--to N] and
restart-changed, through the fake host: each case is the registry's and host's state in, the
report and what the containers run afterwards out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from roost import update
from roost.errors import RoostError, UsageError
from roost.upgrade_marker import Marker, write
from tests.unit.fakeapp import APP_IMAGE, DB_IMAGE, EXAMPLE, World, iid, world

OLD_APP, NEW_APP, OLD_DB = iid("notes1"), iid("notes2"), iid("pg17")


@pytest.fixture
def w(tmp_path) -> World:
    return world(tmp_path)


def quiet(*a, **k) -> None:
    return None


@dataclass
class Case:
    name: str
    registry: dict[str, str] = field(default_factory=dict)  # what a pull brings (beyond today's images)
    broken: set[str] = field(default_factory=set)
    majors: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    result: str = "current"
    changed: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)  # container -> image id it runs after
    error: str | None = None


UPDATES = [
    Case("nothing newer in the registry", runs={"app": OLD_APP, "database": OLD_DB}),
    Case("new app image, healthy", registry={APP_IMAGE: NEW_APP}, result="updated", changed=["app"],
         runs={"app": NEW_APP, "database": OLD_DB}),
    Case("new app image never healthy: rolled back", registry={APP_IMAGE: NEW_APP}, broken={NEW_APP},
         result="rolled-back", changed=["app"], runs={"app": OLD_APP}, error="app.service failed"),
    Case("rollback fails too", registry={APP_IMAGE: NEW_APP}, broken={NEW_APP, OLD_APP}, result="failed",
         changed=["app"], error="the rollback failed too"),
    Case("new images for both: database first", registry={APP_IMAGE: NEW_APP, DB_IMAGE: iid("pg17b")},
         majors={iid("pg17b"): 17}, result="updated", changed=["database", "app"],
         runs={"app": NEW_APP, "database": iid("pg17b")}),
]


@pytest.mark.parametrize("case", UPDATES, ids=[c.name for c in UPDATES])
def test_update(w, case):
    w.registry.update(case.registry)
    w.broken |= case.broken
    w.majors.update(case.majors)
    report = update.update(w.app, say=quiet)
    assert (report.result, report.changed) == (case.result, case.changed)
    for c, image_id in case.runs.items():
        assert w.running[c] == image_id, c
    assert (case.error is None and report.error is None) or (case.error or "?") in (report.error or "")
    assert report.backup and report.backup in w.archives()  # a backup comes first, always
    restarts = [c[1:] for c in w.host.calls if c[:4] == ("systemctl", "--user", "restart", "--no-block")]
    assert bool(restarts) == bool(case.changed)
    if case.changed:
        assert restarts[0][3:] == tuple(f"{c}.service" for c in case.changed)  # dependency order
        kept = [c for c in w.host.calls if c[:2] == ("podman", "tag") and "roost-keep" in c[3]]
        assert {c[2] for c in kept} >= {OLD_APP}  # the previous image cannot be pruned


def test_update_refuses_a_postgres_major_jump_and_points_the_tag_back(w):
    w.registry[DB_IMAGE] = iid("pg18")
    w.majors[iid("pg18")] = 18
    with pytest.raises(UsageError, match="PostgreSQL 18, its data directory is PostgreSQL 17") as e:
        update.update(w.app, say=quiet)
    assert "roost db upgrade notes database --to 18" in (e.value.hint or "")
    assert w.local[DB_IMAGE] == OLD_DB and w.running["database"] == OLD_DB
    assert not [c for c in w.host.calls if c[:4] == ("systemctl", "--user", "restart", "--no-block")]
    assert ("podman", "unshare", "head", "-c", "16", "--", "/srv/roost/notes/database/pgdata/PG_VERSION") in w.host.calls


def test_update_stops_when_a_pull_fails(w):
    w.failing.add("pull")
    with pytest.raises(RoostError, match=r"pull of .* failed") as e:
        update.update(w.app, say=quiet)
    assert e.value.hint == "nothing was restarted"
    assert w.running == {"database": OLD_DB, "app": OLD_APP}


def test_update_refuses_while_a_db_upgrade_is_cut_short(w):
    write(w.host, w.app.layout, Marker("database", 17, 18, "S", "dumped", "/srv/roost/notes/database", "k", "d",
                                       w.spec_path, "", "pg:18", {}))
    with pytest.raises(UsageError, match="stopped at step 'dumped'"):
        update.update(w.app, say=quiet)
    assert not w.archives()


def test_dry_run_asks_the_registries_and_pulls_nothing(w):
    w.auto_update_rows = [{"ContainerName": "notes-app", "Image": APP_IMAGE, "Updated": "pending"},
                          {"ContainerName": "other-app", "Image": "x", "Updated": "pending"}]
    rows = update.check(w.app)
    assert rows == [{"ContainerName": "notes-app", "Image": APP_IMAGE, "Updated": "pending"}]
    assert not w.host.record  # nothing mutating ran


def test_dry_run_marks_containers_without_an_update_policy(tmp_path):
    w = world(tmp_path, EXAMPLE.replace('auto_update = "registry"\nrequires', "requires"))
    rows = update.check(w.app)
    assert rows == [{"ContainerName": "notes-app", "Image": APP_IMAGE,
                     "Updated": "not checked: no auto_update policy in the spec"}]


def history(w: World, *entries: dict) -> None:
    w.host.files[w.app.layout.history_file] = "".join(json.dumps(e) + "\n" for e in entries)


def state(app_id: str, db_id: str = OLD_DB) -> dict:
    return {"app": {"id": app_id, "image": APP_IMAGE}, "database": {"id": db_id, "image": DB_IMAGE}}


@pytest.fixture
def updated(w) -> World:
    """v1 applied, then updated to v2 (both images on the host); v2 runs."""
    w.local[APP_IMAGE] = w.running["app"] = NEW_APP
    w.local[f"localhost/roost-keep/notes-app:{OLD_APP[:12]}"] = OLD_APP
    history(w, {"action": "apply", "result": "ok", "images": state(OLD_APP)},
            {"action": "backup", "result": "ok", "images": {}},
            {"action": "update", "result": "updated", "images": state(NEW_APP)},
            {"action": "update", "result": "rolled-back", "images": state(iid("notes3"))})
    return w


ROLLBACKS = [
    ("default: the newest state with other images", None, set(), "rolled-back", ["app"], OLD_APP),
    ("--to the first entry", 1, set(), "rolled-back", ["app"], OLD_APP),
    ("--to the state that runs now", 3, set(), "current", [], NEW_APP),
    ("the old image is unhealthy now", 1, {OLD_APP}, "failed", ["app"], OLD_APP),
]


@pytest.mark.parametrize("to,broken,result,changed,runs", [c[1:] for c in ROLLBACKS], ids=[c[0] for c in ROLLBACKS])
def test_rollback(updated, to, broken, result, changed, runs):
    w = updated
    w.broken |= broken
    report = update.rollback(w.app, to, say=quiet)
    assert (report.result, report.changed, w.running["app"]) == (result, changed, runs)
    if changed:
        assert w.local[APP_IMAGE] == OLD_APP  # the reference names the old image again: units run it
        assert w.local[f"localhost/roost-keep/notes-app:{NEW_APP[:12]}"] == NEW_APP


@pytest.mark.parametrize("to,expect", [
    (2, "history entry 2 of notes is not a successful state with images"),  # a backup entry
    (4, "history entry 4 of notes is not a successful state"),  # a rolled-back update
    (9, "history entry 9 of notes is not a successful state"),
])
def test_rollback_to_an_entry_that_is_no_state_is_refused(updated, to, expect):
    with pytest.raises(UsageError, match=expect):
        update.rollback(updated.app, to, say=quiet)
    assert not updated.host.record


def test_rollback_without_an_earlier_state_is_refused(w):
    history(w, {"action": "apply", "result": "ok", "images": state(OLD_APP)})
    with pytest.raises(UsageError, match="no earlier state with other images"):
        update.rollback(w.app, None, say=quiet)


def test_rollback_to_images_pruned_from_the_host_is_refused(updated):
    w = updated
    del w.local[f"localhost/roost-keep/notes-app:{OLD_APP[:12]}"]
    with pytest.raises(RoostError, match="the images of entry 1 for app are no longer on this host"):
        update.rollback(w.app, 1, say=quiet)
    assert w.running["app"] == NEW_APP


def test_restart_changed_restarts_what_auto_update_pulled(w):
    w.local[APP_IMAGE] = NEW_APP  # podman auto-update pulled it
    report = update.restart_changed(w.app)
    assert (report.result, report.changed, w.running["app"]) == ("updated", ["app"], NEW_APP)


def test_restart_changed_fails_when_unhealthy_so_podman_rolls_back(w):
    w.local[APP_IMAGE] = NEW_APP
    w.broken.add(NEW_APP)
    report = update.restart_changed(w.app)
    assert report.result == "failed" and "app.service" in (report.error or "")


def test_restart_changed_with_nothing_new_does_nothing(w):
    report = update.restart_changed(w.app)
    assert (report.result, report.changed) == ("current", [])
    assert not [c for c in w.host.calls if c[:4] == ("systemctl", "--user", "restart", "--no-block")]
