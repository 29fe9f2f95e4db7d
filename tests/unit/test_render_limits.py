"""Container limits, user, tmpfs and restart: rendered into the unit (golden file), never as Quadlet's Memory=
(Podman 5.4 skips a unit that uses it). Regenerate: ROOST_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roost.render.desired import render
from roost.render.wants import Identity
from roost.spec.load import parse_spec

GOLDEN = Path(__file__).resolve().parent / "golden_limits"
UPDATE = os.environ.get("ROOST_UPDATE_GOLDEN") == "1"
SPEC = """\
[app]
name = "shop"

[containers.web]
image = "docker.io/library/nginx:1.27"
user = "101:101"
read_only = true
tmpfs = ["/var/cache/nginx:size=64m,mode=1777", "/run"]
limits = { memory = "512m", cpus = 1.5, pids = 256 }

[containers.migrate]
image = "docker.io/library/nginx:1.27"
restart = "no"
limits = { memory = "1g" }
"""


def units() -> dict[str, str]:
    desired = render(parse_spec(SPEC), Identity(2000, 2000, 200_000_000))
    return {name: desired.file(f"/srv/roost/shop/.config/containers/systemd/{name}").content
            for name in ("web.container", "migrate.container")}


@pytest.mark.parametrize("name", ["web.container", "migrate.container"])
def test_golden(name):
    got = units()[name]
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / name).write_text(got)
    assert got == (GOLDEN / name).read_text()


def test_limits_are_service_settings_never_quadlet_memory():
    web = units()["web.container"]
    service = web.split("[Service]")[1]
    # one %: CPUQuota= resolves no specifiers, so %% would make systemd ignore the limit
    assert "MemoryMax=536870912" in service and "CPUQuota=150%\n" in service and "TasksMax=256" in service
    assert "Memory=" not in web.split("[Service]")[0] and "Restart=always" in service
    assert "User=101:101" in web and "Tmpfs=/var/cache/nginx:size=64m,mode=1777" in web and "Tmpfs=/run\n" in web
    assert "Restart=no" in units()["migrate.container"]


@pytest.mark.parametrize("body, message", [
    ('limits = { memory = "1k" }', "below 6m"),
    ('limits = { memory = "lots" }', "not a size"),
    ("limits = { cpus = 0 }", "greater than 0"),
    ('limits = { cpus = "2" }', "number"),
    ("limits = { pids = 3 }", "greater than or equal to 16"),
    ('user = "root; rm"', "not a user"),
    ('tmpfs = ["relative"]', "not a tmpfs"),
    ('tmpfs = ["/x:size=1m;y"]', "not a tmpfs"),
    ('restart = "sometimes"', "always"),
])
def test_bad_values_are_refused_with_the_key(body, message):
    from roost.errors import SpecError

    with pytest.raises(SpecError) as e:
        parse_spec(f'[app]\nname = "x"\n[containers.web]\nimage = "nginx"\n{body}\n')
    assert message in e.value.render() and "containers.web" in e.value.render()


# -- the app's ceiling: a root-owned drop-in for its user's slice ------------------------------------
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def hedgedoc(tmp_path: Path, limits: str | None) -> Path:
    (tmp_path / "application.env").write_text((EXAMPLES / "application.env").read_text())
    text = (EXAMPLES / "hedgedoc.toml").read_text()
    if limits:
        text = text.replace('[app]\n', f'[app]\nlimits = {limits}\n', 1)
    path = tmp_path / "hedgedoc.toml"
    path.write_text(text)
    return path


def test_app_limits_are_a_root_owned_slice_dropin_reloaded_when_changed_and_removed_with_the_key(tmp_path):
    from roost.apply import prepare
    from roost.plan import actions as A
    from tests.unit.fakehost import bare_host, converge

    host = bare_host()
    prep = prepare(hedgedoc(tmp_path, '{ memory = "4g", cpus = 2, pids = 2048 }'), host)
    dropin = "/etc/systemd/system/user-2000.slice.d/50-roost-limits.conf"
    want = next(f for f in prep.desired.state_files if f.path == dropin)
    assert (want.mode, want.uid, want.gid) == (0o644, 0, 0)  # root's: the app's user cannot raise it
    assert "[Slice]\nMemoryMax=4294967296\nCPUQuota=200%\nTasksMax=2048\n" in want.content
    assert A.SystemReload("app.limits of hedgedoc") in prep.plan.actions
    converge(host, prep)
    assert not any(isinstance(a, A.SystemReload) for a in prepare(hedgedoc(tmp_path, '{ memory = "4g", cpus = 2, pids = 2048 }'), host).plan.actions)
    gone = prepare(hedgedoc(tmp_path, None), host).plan.actions
    assert A.RemoveFile(dropin, "the spec sets no app.limits") in gone and A.SystemReload("app.limits of hedgedoc") in gone


def test_purge_removes_the_ceiling_so_the_next_app_with_this_uid_does_not_inherit_it():
    from roost.plan import actions as A
    from roost.record import AppRecord
    from roost.teardown import plan_down

    record = AppRecord("wiki", 2345, 2345, "/srv/roost/wiki", "wiki-pod.service", ["web"])
    plan = plan_down(record, True, True)
    assert A.RemoveFile("/etc/systemd/system/user-2345.slice.d/50-roost-limits.conf", "the app's ceiling") in plan.actions
