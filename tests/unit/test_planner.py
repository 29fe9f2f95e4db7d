"""Planner cases: (spec, faked host facts) -> expected actions. No root, no podman."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.apply import execute, prepare
from roost.errors import UsageError
from roost.host.runner import FileStat
from roost.plan import actions as A
from tests.unit.fakehost import bare_host, converge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEDGEDOC = EXAMPLES / "hedgedoc.toml"


def kinds(plan) -> list[str]:
    return [type(a).__name__ for a in plan.actions]


def spec_copy(tmp_path: Path, edit=lambda text: text) -> Path:
    (tmp_path / "application.env").write_text((EXAMPLES / "application.env").read_text())
    path = tmp_path / "hedgedoc.toml"
    path.write_text(edit(HEDGEDOC.read_text()))
    return path


def test_fresh_host_plans_the_whole_golden_path():
    prep = prepare(HEDGEDOC, bare_host())
    k = kinds(prep.plan)
    # order matters: root's record (it claims the identity), identity, then files, then systemd
    assert k[:7] == ["MakeDirs", "WriteFile", "WriteFile", "CreateGroup", "MakeDir", "CreateUser", "AddSubIds"]
    assert [a.want.path for a in prep.plan.actions[1:3]] == ["/var/lib/roost/apps/hedgedoc/record.json",
                                                             "/var/lib/roost/apps/hedgedoc/spec.toml"]
    assert k.index("AddSubIds") < k.index("MakeDirs", 1) < k.index("EnableLinger") < k.index("GenerateSecret")
    assert k.index("GenerateSecret") < k.index("PutPodmanSecret") < k.index("DaemonReload") < k.index("PullImage")
    assert k[-3:] == ["StartUnits", "ClearPending", "EnableTimer"]
    sub = next(a for a in prep.plan.actions if isinstance(a, A.AddSubIds))
    assert (sub.start, sub.count) == (200_000_000, 65536)  # the source document's range for UID 2000
    pulls = {a.image for a in prep.plan.actions if isinstance(a, A.PullImage)}
    assert pulls == {"docker.io/library/postgres:13", "quay.io/hedgedoc/hedgedoc:latest"}


def test_converged_host_plans_nothing_and_apply_runs_nothing():
    host = bare_host()
    converge(host, prepare(HEDGEDOC, host))
    prep = prepare(HEDGEDOC, host)
    assert prep.plan.empty, [a.describe() for a in prep.plan.actions]
    host.record.clear()
    execute(prep, host, ui=None)
    assert host.record == []


def test_env_change_restarts_only_that_container(tmp_path):
    host = bare_host()
    converge(host, prepare(spec_copy(tmp_path), host))
    changed = spec_copy(tmp_path, lambda t: t.replace("hedgedoc.example.org", "notes.example.org"))
    prep = prepare(changed, host)
    starts = [a for a in prep.plan.actions if isinstance(a, A.StartUnits)]
    assert len(starts) == 1 and starts[0].restart and starts[0].units == ("application.service",)
    writes = [a.want.path for a in prep.plan.actions if isinstance(a, A.WriteFile)]
    assert writes == ["/var/lib/roost/apps/hedgedoc/record.json", "/var/lib/roost/apps/hedgedoc/spec.toml",
                      "/srv/hedgedoc/env/application.env", "/srv/hedgedoc/.config/roost/spec.toml"]
    assert "DaemonReload" not in kinds(prep.plan)  # env files are not units


def test_port_change_restarts_the_pod_and_reloads(tmp_path):
    host = bare_host()
    converge(host, prepare(spec_copy(tmp_path), host))
    prep = prepare(spec_copy(tmp_path, lambda t: t.replace("8388", "8389")), host)
    k = kinds(prep.plan)
    assert "DaemonReload" in k
    start = next(a for a in prep.plan.actions if isinstance(a, A.StartUnits))
    assert start.units == ("hedgedoc-pod.service", "database.service", "application.service") and start.restart
    diff = next(a for a in prep.plan.actions if isinstance(a, A.WriteFile) and a.want.path.endswith(".pod")).detail()
    assert "-PublishPort=127.0.0.1:8388:3000" in diff and "+PublishPort=127.0.0.1:8389:3000" in diff


def test_interrupted_apply_is_finished(tmp_path):
    """A crash after writing units but before the restart leaves a note the next plan obeys."""
    host = bare_host()
    prep = prepare(spec_copy(tmp_path), host)
    converge(host, prep)
    host.files[prep.desired.layout.pending_file] = '{"daemon_reload": true, "restart": ["database.service"]}'
    plan = prepare(spec_copy(tmp_path), host).plan
    assert kinds(plan) == ["MarkPending", "DaemonReload", "StartUnits", "ClearPending"]
    assert plan.actions[2].units == ("database.service",)


def test_stopped_unit_is_started_not_restarted(tmp_path):
    host = bare_host()
    prep = prepare(spec_copy(tmp_path), host)
    converge(host, prep)
    show = host.run(["systemctl", "--user", "show"]).stdout.replace(
        "Id=application.service\nLoadState=loaded\nActiveState=active", "Id=application.service\nLoadState=loaded\nActiveState=failed")
    host.on("systemctl", "--user", "show", answer=show)
    plan = prepare(spec_copy(tmp_path), host).plan
    assert kinds(plan) == ["StartUnits"] and not plan.actions[0].restart


def test_missing_tools_are_installed_with_the_package_manager():
    host = bare_host()
    del host.stats["/usr/libexec/podman/catatonit"], host.stats["/usr/bin/pasta"]
    plan = prepare(HEDGEDOC, host).plan
    assert plan.actions[0] == A.InstallPackages("apt-get", ("passt", "catatonit"))


def test_old_podman_is_refused_with_the_version_needed():
    host = bare_host()
    host.on("podman", "--version", answer="podman version 4.3.1\n")
    with pytest.raises(UsageError, match=r"podman 4\.3\.1 is too old: roost needs podman >= 5\.0"):
        prepare(HEDGEDOC, host)


def test_taken_port_is_refused():
    host = bare_host()
    host.on("ss", answer="tcp LISTEN 0 4096 0.0.0.0:8388 0.0.0.0:*\n")
    with pytest.raises(UsageError, match="8388/tcp is already taken"):
        prepare(HEDGEDOC, host)


def test_plan_diffs_mask_secret_values(tmp_path):
    host = bare_host()
    prep = prepare(spec_copy(tmp_path), host)
    converge(host, prep)
    (tmp_path / "application.env").write_text("CMD_LOGLEVEL=verbose\nAPI_TOKEN=hunter2hunter2\n")
    plan = prepare(tmp_path / "hedgedoc.toml", host).plan
    text = "\n".join(filter(None, (a.detail() for a in plan.actions)))
    assert "API_TOKEN=••••••" in text and "hunter2" not in text


def test_required_container_without_health_check_is_warned_about(tmp_path):
    path = spec_copy(tmp_path, lambda t: t.replace('health = { cmd = "pg_isready -U hedgedoc", interval = "10s" }\n', ""))
    plan = prepare(path, bare_host()).plan
    assert any("database has no health check, so application may start before it is ready" in n for n in plan.notes)


def test_backup_schedule_renders_a_user_timer_and_enables_it(tmp_path):
    path = spec_copy(tmp_path, lambda t: t + '\n[backup]\nkeep = 3\nschedule = "*-*-* 03:00"\n')
    prep = prepare(path, bare_host())
    timer = prep.desired.file("/srv/hedgedoc/.config/systemd/user/roost-backup.timer").content
    service = prep.desired.file("/srv/hedgedoc/.config/systemd/user/roost-backup.service").content
    assert "OnCalendar=*-*-* 03:00" in timer and "WantedBy=timers.target" in timer
    assert "backup hedgedoc --reason scheduled" in service
    assert A.EnableTimer("roost-backup.timer") in prep.plan.actions


def test_auto_update_points_the_pod_label_at_the_health_gated_restart_unit():
    prep = prepare(HEDGEDOC, bare_host())
    dropin = prep.desired.file("/srv/hedgedoc/.config/systemd/user/hedgedoc-pod.service.d/roost-auto-update.conf")
    assert "Environment=PODMAN_SYSTEMD_UNIT=roost-restart.service" in dropin.content
    restart = prep.desired.file("/srv/hedgedoc/.config/systemd/user/roost-restart.service").content
    assert "restart-changed hedgedoc" in restart and "Type=oneshot" in restart
    assert prep.desired.units["hedgedoc-pod.service"][-1] == dropin.path  # a change recreates the pod


def test_a_link_planted_in_the_home_is_refused(tmp_path):
    from roost.host.runner import FileStat

    host = bare_host()
    prep = prepare(spec_copy(tmp_path), host)
    converge(host, prep)
    host.dirs["/srv/hedgedoc/database"] = FileStat(0o777, 2000, 2000, False, is_link=True)
    with pytest.raises(UsageError, match=r"containers\.database\.volumes: /srv/hedgedoc/database: is a symbolic link"):
        prepare(spec_copy(tmp_path), host)


HOME_CASES = [
    # (id, edit of the spec, what the host has, refusal or None)
    ("fresh", None, {}, None),
    ("empty-root-owned-folder", None, {"/srv/hedgedoc": FileStat(0o755, 0, 0, True)}, None),
    ("a-home-of-its-own", None, {"/srv/hedgedoc": FileStat(0o750, 2000, 2000, True),
                                 "/srv/hedgedoc/x": FileStat(0o644, 2000, 2000, False, is_file=True)}, None),
    ("root-owned-with-content", None, {"/srv/hedgedoc": FileStat(0o755, 0, 0, True),
                                       "/srv/hedgedoc/keep": FileStat(0o644, 0, 0, False, is_file=True)},
     "already exists, belongs to UID 0 and is not empty"),
    ("a-humans-home", ('home = "/srv/hedgedoc"', 'home = "/srv/alice"'),
     {"/srv/alice": FileStat(0o700, 1000, 1000, True)}, "belongs to UID 1000"),
    ("a-link", None, {"/srv/hedgedoc": FileStat(0o777, 0, 0, False, is_link=True)}, "is not a directory"),
    ("inside-a-humans-folder", ('home = "/srv/hedgedoc"', 'home = "/srv/alice/hedgedoc"'),
     {"/srv/alice": FileStat(0o755, 1000, 1000, True)}, "inside /srv/alice, which belongs to UID 1000"),
    ("inside-a-world-writable-folder", ('home = "/srv/hedgedoc"', 'home = "/srv/shared/hedgedoc"'),
     {"/srv/shared": FileStat(0o1777, 0, 0, True)}, "inside /srv/shared, which others can write"),
]


@pytest.mark.parametrize("edit, dirs, refusal", [c[1:] for c in HOME_CASES], ids=[c[0] for c in HOME_CASES])
def test_home_must_be_a_folder_of_its_own(tmp_path, edit, dirs, refusal):
    host = bare_host()
    host.dirs["/srv"] = FileStat(0o755, 0, 0, True)
    host.dirs.update({p: st for p, st in dirs.items() if st.is_dir or st.is_link})
    host.stats.update({p: st for p, st in dirs.items() if not (st.is_dir or st.is_link)})
    if any(st.uid == 2000 for st in dirs.values()):  # its record says roost made it
        host.files["/var/lib/roost/apps/hedgedoc/record.json"] = (
            '{"name": "hedgedoc", "uid": 2000, "gid": 2000, "home": "/srv/hedgedoc", "pod_service": "hedgedoc-pod.service", '
            '"containers": ["database", "application"]}')
        host.dirs["/var/lib/roost/apps"] = FileStat(0o755, 0, 0, True)
        host.dirs["/var/lib/roost/apps/hedgedoc"] = FileStat(0o755, 0, 0, True)
    path = spec_copy(tmp_path, (lambda t: t.replace(*edit)) if edit else (lambda t: t))
    if refusal is None:
        assert prepare(path, host).plan.actions
        return
    with pytest.raises(UsageError, match=refusal) as info:
        prepare(path, host)
    assert info.value.message.startswith("app.home: ") and info.value.exit_code == 2
    assert host.record == []


def test_homes_of_two_apps_may_not_nest(tmp_path):
    host = bare_host()
    host.dirs["/var/lib/roost/apps"] = FileStat(0o755, 0, 0, True)
    host.dirs["/var/lib/roost/apps/wiki"] = FileStat(0o755, 0, 0, True)
    host.files["/var/lib/roost/apps/wiki/record.json"] = (
        '{"name": "wiki", "uid": 2001, "gid": 2001, "home": "/srv/hedgedoc/wiki", "pod_service": "wiki-pod.service", '
        '"containers": ["web"]}')
    with pytest.raises(UsageError, match="overlaps the home of roost app wiki"):
        prepare(spec_copy(tmp_path), host)


def test_a_host_path_through_a_link_is_refused(tmp_path):
    host = bare_host()
    host.links.add("/opt/x/data")
    path = spec_copy(tmp_path, lambda t: t.replace('home = "/srv/hedgedoc"', 'home = "/srv/hedgedoc"\nallow_host_paths = ["/opt/x"]')
                     .replace('"uploads:/hedgedoc/public/uploads:Z"', '"/opt/x/data:/hedgedoc/public/uploads:Z"'))
    with pytest.raises(UsageError, match=r"containers.application.volumes: /opt/x/data: passes through the symbolic link"):
        prepare(path, host)
