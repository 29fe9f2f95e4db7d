"""Issue 13 pieces that need no lab: notification events as untrusted input, the nightly outcome,
status as a monitoring check, doctor's reading of the units' roost command, rendering with [notify]."""

from __future__ import annotations

import json
import os
import time

import pytest

import roost.notify.user_spool as user_spool
from roost import doctor, notify
from roost.errors import RoostError
from roost.render.desired import Identity, render
from roost.spec.load import parse_spec
from roost.status import parse_inspect, problems

SPEC = """
[app]
name = "wiki"
uid = 2000

[containers.web]
image = "example.org/wiki:1"
auto_update = "registry"

[notify]
urls_file = "wiki.notify"
"""
URL = "json://roost:TOPSECRET@127.0.0.1:9/hook"


@pytest.fixture
def spec():
    return parse_spec(SPEC, "wiki.toml")


def test_event_must_be_exactly_what_is_expected(spec):
    ok = notify.parse_event(b'{"kind": "container-failed", "container": "web", "detail": "x"}', spec)
    assert ok == notify.Event("container-failed", "x", "web")
    for bad in (b'{"kind": "test"}', b'{"kind": "container-failed", "container": "db"}',
                b'{"kind": "container-failed"}', b'{"kind": "backup-failed", "extra": 1}', b"[]"):
        with pytest.raises(ValueError):
            notify.parse_event(bad, spec)
    assert notify.parse_event(b'{"kind": "backup-failed", "detail": 5}', spec).detail == "(an event without readable text)"


def test_text_from_the_user_is_escaped():
    assert notify.clean("a\x1b[31mred\x07\u202eb\n") == "a?[31mred??b?"
    assert len(notify.clean("x" * 5000)) == notify.MAX_DETAIL


def test_stored_urls_are_masked_in_plans_and_read_back():
    from roost.plan.actions import mask_env

    stored = notify.render_stored([URL, "ntfys://tok@ntfy.sh/t"])
    assert "TOPSECRET" not in mask_env(stored)
    with pytest.raises(Exception, match=r"wiki\.notify:2: not a notification URL"):
        notify.parse_urls_file("# c\nnot a url\n", "wiki.notify")


def test_spool_reader_refuses_links_fifos_hardlinks_and_big_files(tmp_path, monkeypatch, spec):
    monkeypatch.setattr(user_spool, "SPOOL_ROOT", str(tmp_path))
    d = tmp_path / "wiki"
    d.mkdir()
    good = json.dumps({"kind": "backup-failed", "detail": "disk full"})
    (d / "event-1-1.json").write_text(good)
    secret = tmp_path / "secret"
    secret.write_text('{"kind": "backup-failed"}')
    os.symlink(secret, d / "event-2-1.json")
    os.mkfifo(d / "event-3-1.json")
    (d / "event-4-1.json").write_text("x" * (notify.MAX_EVENT_BYTES + 1))
    os.link(secret, d / "event-5-1.json")
    (d / "other-name").write_text(good)
    raws, dropped = notify.read_spool("wiki", os.getuid())
    assert raws == [good.encode()] and dropped == 5
    assert os.listdir(d) == [] and secret.exists()  # the link is removed, never its target


def test_spool_of_another_owner_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(user_spool, "SPOOL_ROOT", str(tmp_path))
    (tmp_path / "wiki").mkdir()
    with pytest.raises(RoostError, match="not owned"):
        notify.read_spool("wiki", os.getuid() + 1)


def test_spool_directory_that_is_a_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(user_spool, "SPOOL_ROOT", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "wiki")
    with pytest.raises(OSError):
        notify.read_spool("wiki", os.getuid())


def test_nightly_outcome_from_the_history():
    backup_ok = {"action": "backup", "reason": "pre-auto-update", "result": "ok"}
    failed = {"action": "auto-update", "result": "failed", "error": "app is unhealthy",
              "tried": {"app": {"digest": "sha256:new"}}}
    updated = {"action": "auto-update", "result": "updated", "after": {"app": {"digest": "sha256:old"}}}
    e = notify.nightly_outcome([backup_ok, failed, updated], "success", "0")
    assert e.kind == "auto-update-rolled-back" and "tried sha256:new" in e.detail and "restored sha256:old" in e.detail
    assert notify.nightly_outcome([backup_ok, failed], "exit-code", "1").kind == "auto-update-failed"
    assert notify.nightly_outcome([backup_ok], "success", "0") is None
    assert notify.nightly_outcome([backup_ok, updated], "success", "0") is None
    skipped = {"action": "backup", "reason": "pre-auto-update", "result": "failed", "error": "disk full"}
    assert notify.nightly_outcome([backup_ok, failed, updated, skipped], "exit-code", "1").kind == "auto-update-skipped"
    assert notify.nightly_outcome([], "exit-code", "125").kind == "auto-update-failed"


def test_status_problems_make_it_a_check():
    row = {"container": "web", "state": "active/running", "health": "healthy"}
    app = {"app": "wiki", "pod": "active/running", "containers": [row]}
    assert problems([app]) == []
    assert problems([{**app, "containers": [{**row, "health": "unhealthy"}]}]) == ["wiki/web: unhealthy"]
    assert problems([{**app, "containers": [{**row, "state": "failed/failed"}]}]) == ["wiki/web: unit is failed/failed"]
    assert problems([{**app, "pod": "not installed"}]) == ["wiki: pod is not installed"]


def test_one_inspect_carries_state_health_image_and_digest():
    text = json.dumps([{"Config": {"Labels": {"io.roost.app": "wiki", "io.roost.container": "web"}},
                        "ImageName": "example.org/wiki:1", "ImageDigest": "sha256:abc",
                        "State": {"Status": "running", "Health": {"Status": "unhealthy"},
                                  "StartedAt": "2026-11-30T04:11:18.123456789Z"}},
                       {"Config": {"Labels": {"io.roost.app": "other"}}}])
    got = parse_inspect(text, "wiki")
    assert set(got) == {"web"}
    assert got["web"]["health"] == "unhealthy" and got["web"]["digest"] == "sha256:abc"
    assert got["web"]["started"] == pytest.approx(1796011878.12, abs=1)
    assert parse_inspect("not json", "wiki") == {}


def test_doctor_reads_the_roost_command_from_the_units():
    show = ("ExecStart={ path=/opt/roost/venv/bin/python3 ; argv[]=/opt/roost/venv/bin/python3 -m roost "
            "restart-changed wiki ; ignore_errors=no }\nExecStartPre={ path=/usr/local/bin/roost ; "
            "argv[]=/usr/local/bin/roost backup wiki ; ignore_errors=no }\nExecStart={ path=/usr/bin/podman ; "
            "argv[]=/usr/bin/podman auto-update ; }\n")
    assert doctor.roost_commands(show) == [("/opt/roost/venv/bin/python3", "-m", "roost"), ("/usr/local/bin/roost",)]


def test_render_with_notify_keeps_urls_out_of_every_unit(spec):
    d = render(spec, Identity(2000, 2000, 200000000), roost_cmd=("/opt/roost/venv/bin/python3", "-m", "roost"),
               notify_urls=(URL,))
    files = {f.path: f for f in (*d.files, *d.state_files)}
    stored = files["/var/lib/roost/apps/wiki/notify.urls"]
    assert stored.mode == 0o600 and stored.uid == 0 and stored.sensitive and URL in stored.content
    assert all("TOPSECRET" not in f.content for p, f in files.items() if p != stored.path)
    assert "OnFailure=roost-failed-web.service" in files["/srv/roost/wiki/.config/containers/systemd/web.container"].content
    failed = files["/srv/roost/wiki/.config/systemd/user/roost-failed-web.service"].content
    assert "ExecStart=/opt/roost/venv/bin/python3 -m roost notify container-failed wiki web" in failed
    assert "ExecStart=/opt/roost/venv/bin/python3 -m roost notify flush %i" in \
        files["/etc/systemd/system/roost-notify@.service"].content
    spool = next(x for x in d.dirs if x.path == "/var/lib/roost/spool/wiki")
    assert (spool.mode, spool.uid) == (0o700, 2000)
    assert json.loads(files["/var/lib/roost/apps/wiki/record.json"].content)["notify"] is True


def _notify_spec(tmp_path, url: str = URL):
    from tests.unit.test_planner import spec_copy

    (tmp_path / "hedgedoc.notify").write_text(f"# ours\n{url}\n")
    return spec_copy(tmp_path, lambda t: t + '\n[notify]\nurls_file = "hedgedoc.notify"\n')


def test_plan_enables_notifications_once_and_masks_the_urls(tmp_path):
    from roost.apply import prepare
    from roost.plan import actions as A
    from tests.unit.fakehost import bare_host, converge

    host = bare_host()
    prep = prepare(_notify_spec(tmp_path), host)
    enable = [a for a in prep.plan.actions if isinstance(a, A.EnableNotify)]
    assert enable == [A.EnableNotify("hedgedoc", True)]
    shown = "\n".join(a.describe() + (a.detail() or "") for a in prep.plan.actions)
    assert "TOPSECRET" not in shown and "/var/lib/roost/apps/hedgedoc/notify.urls" in shown
    converge(host, prep)
    host.on("systemctl", "is-active", "--quiet", "roost-notify@hedgedoc.path", answer="")
    again = prepare(_notify_spec(tmp_path), host)
    assert again.plan.empty, [a.describe() for a in again.plan.actions]
    # a new URL: only the root-only copy changes; no unit, no restart
    changed = prepare(_notify_spec(tmp_path, "ntfys://OTHER@ntfy.sh/t"), host)
    assert [type(a).__name__ for a in changed.plan.actions] == ["WriteFile"]
    assert changed.plan.actions[0].want.path == "/var/lib/roost/apps/hedgedoc/notify.urls"


def test_missing_urls_file_is_a_located_usage_error(tmp_path):
    from roost.apply import prepare
    from roost.errors import UsageError
    from tests.unit.fakehost import bare_host

    spec = _notify_spec(tmp_path)
    (tmp_path / "hedgedoc.notify").unlink()
    with pytest.raises(UsageError, match=r"notify\.urls_file: .*hedgedoc\.notify does not exist"):
        prepare(spec, bare_host())


class _RecordingApp:
    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.spec = parse_spec(SPEC.replace('[notify]\nurls_file = "wiki.notify"\n', ""), "wiki.toml")

    def record_history(self, action: str, result: str, **fields) -> None:
        self.entries.append({"action": action, "result": result, **fields})


@pytest.mark.parametrize(("action", "result", "code"), [
    ("update", "updated", None), ("update", "current", None), ("update", "rolled-back", 1),
    ("update", "failed", 1), ("rollback", "rolled-back", None), ("rollback", "failed", 1)])
def test_update_exits_0_only_when_the_app_runs_what_was_asked(action, result, code, capsys):
    from roost.cli.update import _show
    from roost.host.facts import RunningImage, images_json
    from roost.update import Report

    old = {"app": RunningImage("example.org/wiki:1", "a" * 64, "sha256:" + "a" * 64)}
    new = {"app": RunningImage("example.org/wiki:1", "b" * 64, "sha256:" + "b" * 64)}
    report = Report(result, before=old, after=old if result == "rolled-back" else new, tried=new, changed=["app"],
                    error=None if result in ("updated", "current") else "app is unhealthy")
    app = _RecordingApp()
    if code is None:
        _show(app, action, report, as_json=False)
    else:
        with pytest.raises(SystemExit) as e:
            _show(app, action, report, as_json=False)
        assert e.value.code == code
    assert app.entries[-1]["result"] == result
    # `roost update --json` and the history keep the JSON they had when the images were dicts
    shown = json.dumps(report.to_dict())
    assert f'"before": {{"app": {{"image": "example.org/wiki:1", "id": "{"a" * 64}", "digest": "sha256:{"a" * 64}"}}}}' in shown
    out = capsys.readouterr().out
    if action == "update" and result == "rolled-back":
        assert "tried sha256:bbbbbbbbbbbb, restored sha256:aaaaaaaaaaaa" in out
        assert app.entries[-1]["tried"] == images_json(new)
        assert app.entries[-1]["tried"]["app"] == {"image": "example.org/wiki:1", "id": "b" * 64, "digest": "sha256:" + "b" * 64}


def test_reapply_applies_the_applied_text_not_the_edited_file(tmp_path):
    from roost.apply import prepare
    from tests.unit.fakehost import bare_host, converge

    host = bare_host()
    path = _notify_spec(tmp_path)
    applied = path.read_text()
    converge(host, prepare(path, host))
    path.write_text(applied.replace("hedgedoc.example.org", "edited.example.org"))  # not applied yet
    assert not prepare(path, host).plan.empty
    host.on("systemctl", "is-active", "--quiet", "roost-notify@hedgedoc.path", answer="")
    again = prepare(path, host, spec_text=applied)
    assert again.plan.empty, [a.describe() for a in again.plan.actions]


def test_units_name_the_installed_roost_when_there_is_one(monkeypatch, tmp_path):
    from roost import command

    monkeypatch.setattr(command, "INSTALL_PREFIX", str(tmp_path))
    assert command.roost_command()[0] != f"{tmp_path}/venv/bin/python3"
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python3").write_text("")
    assert command.roost_command() == (f"{tmp_path}/venv/bin/python3", "-m", "roost")


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F _roost_completion roost"),
                                               ("zsh", "#compdef roost"), ("fish", "complete --no-files --command roost")])
def test_completion_scripts_come_from_click(shell, marker):
    from click.testing import CliRunner

    from roost.cli import cli

    r = CliRunner().invoke(cli, ["completion", shell])
    assert r.exit_code == 0 and marker in r.output and "_ROOST_COMPLETE" in r.output


def test_nightly_outcome_ignores_entries_of_earlier_nights():
    old = [{"time": "2026-11-29T03:00:05+0000", "action": "auto-update", "result": "failed"},
           {"time": "2026-11-29T03:00:40+0000", "action": "auto-update", "result": "updated"}]
    new = [{"time": "2026-11-30T03:00:02+0000", "action": "backup", "reason": "pre-auto-update", "result": "ok"}]
    started = 1796007600.0  # 2026-11-30T03:00:00Z
    assert notify.since(old + new, started) == new
    assert notify.nightly_outcome(notify.since(old, started), "success", "0") is None
    assert notify.since(old, None) == old


def test_safe_read_of_a_proc_file_works_and_large_files_are_still_refused(tmp_path):
    from roost.host import safefs

    # /proc/sys files say size 0 and make the kernel allocate what a read asks for: one read of
    # MAX_READ failed with ENOMEM, which broke `roost doctor` (ip_unprivileged_port_start)
    assert safefs.read_text("/proc/sys/net/ipv4/ip_unprivileged_port_start").strip().isdigit()
    big = tmp_path / "big"
    big.write_bytes(b"x" * 200_000)
    assert safefs.read_bytes(str(big), limit=200_000) == b"x" * 200_000
    with pytest.raises(safefs.UnsafePath):
        safefs.read_bytes(str(big), limit=199_999)


def test_spool_leaves_nothing_that_restarts_the_flush_forever(tmp_path, monkeypatch, spec):
    """A stuck `.tmp-` file or a directory kept DirectoryNotEmpty= true: the path unit restarted the
    flush until systemd gave up, and every later alert was lost (issue 17)."""
    monkeypatch.setattr(user_spool, "SPOOL_ROOT", str(tmp_path))
    d = tmp_path / "wiki"
    d.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("root's")
    (d / ".tmp-stuck").write_text("{")
    os.utime(d / ".tmp-stuck", (time.time() - 60, time.time() - 60))
    (d / ".tmp-fresh").write_text("{")
    (d / "event-1-1.json").mkdir()  # a directory with an event's name
    (d / "event-1-1.json" / "deep").mkdir()
    os.symlink(outside, d / "event-1-1.json" / "deep" / "link")
    (d / "junk").mkdir()
    raws, dropped = notify.read_spool("wiki", os.getuid())
    assert raws == [] and dropped == 2
    assert sorted(os.listdir(d)) == [".tmp-fresh"]  # a writer may still be at it
    assert (outside / "keep").read_text() == "root's"  # links inside were removed, not followed
    notify.read_spool("wiki", os.getuid(), now=time.time() + notify.TMP_GRACE_S + 1)
    assert os.listdir(d) == []
