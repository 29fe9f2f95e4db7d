"""The night's entries the app's user writes into its copy of the history: shown beside root's,
validated as untrusted, marked, never used by rollback (issue 17, item 9)."""

from __future__ import annotations

import json

from roost import history

T = "2026-12-03T03:0{}:00+0000"


def _line(**kw) -> str:
    return json.dumps(kw)


def test_the_nights_backup_update_and_rollback_are_reported_and_marked():
    text = "\n".join([
        _line(time=T.format(1), who="wiki", action="backup", result="ok", reason="pre-auto-update",
              backup="wiki-20261203T030100Z", images={"app": {"image": "a:1", "digest": "sha256:aa", "id": "1"}}),
        _line(time=T.format(2), who="wiki", action="auto-update", result="failed", changed=["app"],
              error="not healthy", tried={"app": {"image": "a:1", "digest": "sha256:bb"}}),
        _line(time=T.format(3), who="wiki", action="auto-update", result="updated", changed=["app"]),
    ])
    got = history.reported(text, "wiki")
    assert [(e["action"], e["result"]) for e in got] == [("backup", "ok"), ("auto-update", "failed"),
                                                         ("auto-update", "rolled-back")]
    assert all(e["reported_by"] == history.REPORTED_BY for e in got)
    assert got[0]["backup"] == "wiki-20261203T030100Z" and got[1]["tried"]["app"]["digest"] == "sha256:bb"


def test_what_is_not_a_well_formed_report_of_the_apps_user_is_left_out():
    text = "\n".join([
        "not json", "[1, 2]",
        _line(time=T.format(1), who="root", action="backup", result="ok"),  # root's own: in root's history
        _line(time=T.format(1), who="wiki", action="apply", result="ok"),  # only root applies
        _line(time=T.format(1), who="wiki", action="backup", result="ok\x1b[2J"),
        _line(time="yesterday", who="wiki", action="backup", result="ok"),
        _line(time=T.format(1), who="wiki", action="backup", result="ok", error=["x"], backup="b" * 5000,
              images={"app": "sha256:x"}, spec_digest="forged", extra={"a": 1}),
    ])
    [e] = history.reported(text, "wiki")
    assert set(e) == {"time", "who", "action", "result", "reported_by", "backup"} and len(e["backup"]) == 200


def test_reports_sort_between_roots_entries_and_take_no_number():
    own = [{"time": T.format(0), "action": "apply", "result": "ok"},
           {"time": T.format(5), "action": "update", "result": "updated"}]
    theirs = history.reported(_line(time=T.format(2), who="wiki", action="backup", result="ok"), "wiki")
    assert [n for n, _ in history.merged(own, theirs)] == [1, None, 2]


def test_rollback_never_sees_a_report(tmp_path):
    """rollback reads root's history file only; the reports are never written there."""
    from roost.layout import Layout
    from tests.unit.fakehost import FakeHost

    layout = Layout("wiki", str(tmp_path))
    host = FakeHost()
    host.files[layout.history_copy] = _line(time=T.format(1), who="wiki", action="auto-update", result="updated",
                                            images={"app": {"id": "evil"}})
    assert history.read(host, layout) == [] and len(history.read_reported(host, layout)) == 1
