"""HostState: what `apply.prepare` reads of the host, gathered once through the Host; the checks
over it (plan/checks.py) are pure."""

from __future__ import annotations

import collections
import threading

import pytest

from roost.errors import UsageError
from roost.frontdoor.state import FrontFacts
from roost.host.facts import AppFacts
from roost.host.runner import FileStat
from roost.host.safefs import UnsafePath
from roost.host.state import HomeFacts, HostState
from roost.plan import checks
from roost.spec.load import parse_spec
from tests.unit.fakehost import bare_host, converge
from tests.unit.test_boundary_rules import system
from tests.unit.test_server_use import _notify_spec

READS = ("read_file", "stat", "list_dir", "check_no_links", "exists", "run")


def counting(host) -> collections.Counter:
    """Count each read the host answers: (method, path or argv, user)."""
    seen: collections.Counter = collections.Counter()
    lock = threading.Lock()  # the app's and the front door's reads run in threads

    def wrap(name, read):
        def counted(*args, **kw):
            with lock:
                seen[(name, tuple(args[0]) if name == "run" else args[0], getattr(kw.get("user"), "name", None))] += 1
            return read(*args, **kw)
        return counted

    for name in READS:
        setattr(host, name, wrap(name, getattr(host, name)))
    return seen


@pytest.mark.parametrize("converged", [False, True])
def test_prepare_reads_each_fact_once(tmp_path, converged):
    from roost.apply import prepare

    host = bare_host()
    spec = _notify_spec(tmp_path)
    if converged:
        converge(host, prepare(spec, host))
        host.on("systemctl", "is-active", "--quiet", "roost-notify@hedgedoc.path", answer="")
    seen = counting(host)
    prep = prepare(spec, host)
    assert seen and not {k: n for k, n in seen.items() if n > 1}
    assert prep.plan.empty == converged
    assert prep.system is prep.state.system and prep.app is prep.state.app
    assert prep.app.notify_active == converged  # asked while gathering, not patched in afterwards


SPEC = """\
[app]
name = "demo"
home = "/srv/apps/demo"
allow_host_paths = ["/srv/shared"]

[containers.web]
image = "example.org/web:1"
volumes = ["data:/data", "/srv/shared:/shared"]
"""


def state(home: HomeFacts) -> HostState:
    return HostState(system({}), home, AppFacts(), FrontFacts())


def test_checks_are_pure_over_a_hand_built_state():
    spec = parse_spec(SPEC, "demo.toml")
    ok = state(HomeFacts(home=None, parent=FileStat(0o755, 0, 0, is_dir=True)))
    checks.check_before_render(spec, ok.system, 2000, ok.home)
    checks.check_pg(spec, ok.app)

    linked = state(HomeFacts(link=UnsafePath("/srv/apps", "passes through the symbolic link /srv/apps")))
    with pytest.raises(UsageError, match=r"^app\.home: /srv/apps: passes through the symbolic link"):
        checks.check_before_render(spec, linked.system, 2000, linked.home)

    inside = state(HomeFacts(sources={"/srv/apps/demo/data": FileStat(0o777, 2000, 2000, is_dir=False, is_link=True)}))
    with pytest.raises(UsageError, match=r"^containers\.web\.volumes: /srv/apps/demo/data: is a symbolic link"):
        checks.check_host_paths(spec, inside.home)

    outside = state(HomeFacts(unsafe={"/srv/shared": UnsafePath("/srv/shared", "passes through the symbolic link /srv")}))
    with pytest.raises(UsageError, match=r"^containers\.web\.volumes: /srv/shared: passes through"):
        checks.check_before_render(spec, outside.system, 2000, outside.home)

    taken = state(HomeFacts(home=FileStat(0o750, 1000, 1000, is_dir=True), entries=[("x", FileStat(0o644, 1000, 1000, is_dir=False, is_file=True))]))
    with pytest.raises(UsageError, match=r"^app\.home: /srv/apps/demo already exists, belongs to UID 1000"):
        checks.check_before_render(spec, taken.system, 2000, taken.home)


def test_execute_checks_the_host_paths_again_before_units_start(tmp_path):
    from roost.apply import execute, prepare
    from tests.unit.test_planner import spec_copy

    host = bare_host()
    converge(host, prepare(spec_copy(tmp_path), host))
    prep = prepare(spec_copy(tmp_path, lambda t: t.replace("hedgedoc.example.org", "notes.example.org")), host)
    assert any(type(a).__name__ == "StartUnits" for a in prep.plan.actions)
    host.dirs["/srv/hedgedoc/database"] = FileStat(0o777, 2000, 2000, False, is_link=True)  # planted after the plan
    host.record.clear()
    with pytest.raises(UsageError, match=r"^containers\.database\.volumes: /srv/hedgedoc/database: is a symbolic link"):
        execute(prep, host, ui=None)
    assert not any("restart" in r or "start" in r for r in host.record), host.record


def test_apps_and_records_are_read_through_the_host():
    from roost.layout import list_apps
    from roost.record import read_record

    host = bare_host()
    host.dirs["/var/lib/roost/apps"] = FileStat(0o755, 0, 0, True)
    host.dirs["/var/lib/roost/apps/wiki"] = FileStat(0o755, 0, 0, True)
    host.dirs["/var/lib/roost/apps/half"] = FileStat(0o755, 0, 0, True)  # no record yet: not an app
    host.files["/var/lib/roost/apps/wiki/record.json"] = (
        '{"name": "wiki", "uid": 2001, "gid": 2001, "home": "/srv/wiki", "pod_service": "wiki-pod.service", "containers": []}')
    host.stats["/var/lib/roost/apps/wiki/record.json"] = FileStat(0o644, 0, 0, False, is_file=True)
    host.dirs["/etc/roost/apps"] = FileStat(0o755, 0, 0, True)
    host.files["/etc/roost/apps/old.json"] = (
        '{"name": "old", "uid": 2002, "gid": 2002, "home": "/srv/old", "pod_service": "old-pod.service", "containers": []}')
    assert list_apps(host) == ["old", "wiki"]
    assert read_record("wiki", host).uid == 2001 and read_record("old", host).home == "/srv/old"
    with pytest.raises(UsageError, match=r"no roost app named 'nope' on this host \(applied apps: old, wiki\)"):
        read_record("nope", host)
