"""Issue 9's pure checks, table-driven: where an app's home may be, which groups an app may
become, which container names would shadow a unit, how `roost history` numbers entries, and
which existing folders an app may take as its home (checks.check_home).

Each refusal happens before anything touches the host (spec load or identity resolution); the
end-to-end side (exit 2, nothing created) is tests/e2e/test_boundary.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from roost.errors import SpecError, UsageError
from roost.host.facts import SystemFacts
from roost.host.parse import PasswdEntry
from roost.host.runner import FileStat
from roost.host.state import HomeFacts
from roost.plan.checks import check_home
from roost.plan.identity import resolve
from roost.spec.load import parse_spec
from tests.unit.fakehost import app_record

BASE = """\
[app]
name = "demo"

[containers.web]
image = "example.org/web:1"
"""


def with_app(extra: str) -> str:
    return BASE.replace('name = "demo"\n', 'name = "demo"\n' + extra, 1)  # extra starts on line 3


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    return [(p.where, p.line, p.message) for p in err.value.problems]


# --- app.home ------------------------------------------------------------------------------------------------------

REFUSED_HOMES = [
    # system directories and the folders that hold them
    "/", "/etc", "/usr", "/usr/local", "/var", "/var/lib", "/home", "/root", "/boot", "/srv", "/srv/roost", "/opt",
    # inside the host's own trees
    "/etc/demo", "/etc/systemd/system", "/usr/demo", "/usr/local/demo", "/boot/demo", "/root/demo", "/proc/demo",
    "/sys/demo", "/dev/demo", "/run/demo", "/run/user/2000", "/var/lib/roost", "/var/lib/roost/demo",
    "/var/lib/roost/apps/demo",
    # what Volume= cannot carry, or is not one normalised absolute path
    "/srv/demo:data", "/srv/roost/demo/", "/srv/roost/../etc", "srv/roost/demo", "//srv/demo",
]
ACCEPTED_HOMES = ["/srv/roost/demo", "/srv/apps/demo", "/opt/demo", "/home/demo", "/var/lib/demo", "/data/apps/demo"]


@pytest.mark.parametrize("home", REFUSED_HOMES)
def test_home_refused(home):
    found = problems(with_app(f'home = "{home}"\n'))
    assert [(w, line) for w, line, _ in found] == [("app.home", 3)], found


@pytest.mark.parametrize("home", ACCEPTED_HOMES)
def test_home_accepted(home):
    assert parse_spec(with_app(f'home = "{home}"\n')).home == home


@pytest.mark.parametrize("path", ["/", "/etc", "/usr", "/var/lib", "/srv", "/etc/ssl", "/run/roost", "/srv/x:y"])
def test_allowed_host_path_refused(path):
    found = problems(with_app(f'allow_host_paths = ["{path}"]\n'))
    assert [(w, line) for w, line, _ in found] == [("app.allow_host_paths", 3)], found


def test_allowed_host_path_accepted():
    spec = parse_spec(with_app('allow_host_paths = ["/srv/shared"]\n')
                      + 'volumes = ["/srv/shared/data:/data"]\n')
    assert spec.app.allow_host_paths == ("/srv/shared",)


# --- container names that would shadow a unit ----------------------------------------------------------------------

CLASHING = ["demo-pod", "dbus", "podman-auto-update", "podman", "roost-backup", "roost-restart", "systemd-journald",
            "default"]


@pytest.mark.parametrize("cname", CLASHING)
def test_container_name_shadowing_a_unit_refused(cname):
    found = problems(BASE.replace("containers.web", f"containers.{cname}"))
    assert [(w, line) for w, line, _ in found] == [(f"containers.{cname}", 4)], found


@pytest.mark.parametrize("cname", ["web", "database", "app", "pod", "demo-web", "other-pod", "backup"])
def test_container_name_accepted(cname):
    assert cname in parse_spec(BASE.replace("containers.web", f"containers.{cname}")).containers


# --- groups an app may become --------------------------------------------------------------------------------------

def system(groups: dict[str, int], apps: dict[str, dict] | None = None,
           users: dict[str, tuple[int, int]] | None = None) -> SystemFacts:
    users = {"root": (0, 0), "nobody": (65534, 65534), **(users or {})}
    return SystemFacts(
        package_manager="apt-get", missing_packages=(), podman_version=(5, 4, 2),
        users={n: PasswdEntry(n, u, g, "/", "/bin/sh") for n, (u, g) in users.items()},
        groups={"root": 0, "nogroup": 65534, **groups},
        subuids=(), subgids=(), listeners=(), apps={n: app_record(n, **a) for n, a in (apps or {}).items()}, linger=frozenset(),
    )


def named(name: str):
    return parse_spec(BASE.replace('"demo"', f'"{name}"'))


@pytest.mark.parametrize(("name", "gid"), [("shadow", 42), ("disk", 6), ("adm", 4), ("kvm", 993),
                                           ("systemd-journal", 999), ("docker", 998), ("media", 1500),
                                           ("teamwork", 4100)])
def test_existing_group_roost_did_not_create_refused(name, gid):
    """The app would join it: `shadow` reads /etc/shadow, `disk` the raw disks, `docker` is root."""
    with pytest.raises(UsageError) as err:
        resolve(named(name), system({name: gid}))
    assert name in err.value.message and "group" in err.value.message


def test_group_of_an_earlier_apply_is_kept():
    record = {"name": "demo", "uid": 2500, "gid": 2500, "subid_start": 250_000_000}
    ident = resolve(named("demo"), system({"demo": 2500}, apps={"demo": record}, users={"demo": (2500, 2500)}))
    assert (ident.uid, ident.gid) == (2500, 2500)


def test_new_app_gets_a_fresh_group():
    ident = resolve(named("demo"), system({}))
    assert ident.gid >= 2000 and ident.gid == ident.uid


# --- history numbering ---------------------------------------------------------------------------------------------

def entries(n: int) -> list[dict]:
    out = [{"time": f"2026-01-01T00:00:{i:02d}", "who": "root", "action": "rollback", "result": "current"}
           for i in range(1, n + 1)]
    out[-1] = {**out[-1], "action": "apply", "result": "ok"}
    return out


def run_history(monkeypatch, history: list[dict], *args: str):
    import roost.history as hist
    from roost.cli import common
    from roost.cli.history import history as verb

    monkeypatch.setattr(common, "require_root", lambda: None)
    monkeypatch.setattr(common, "load_app", lambda name, host: app_record(name, uid=2000, gid=2000))
    monkeypatch.setattr(hist, "read", lambda host, layout: list(history))
    result = CliRunner().invoke(verb, ["demo", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.mark.parametrize("total", [3, 20, 21, 45])
def test_history_numbers_are_indexes_of_the_whole_history(monkeypatch, total):
    """`roost rollback --to N` indexes the whole history from 1: the table must show the same N."""
    history = entries(total)
    shown = json.loads(run_history(monkeypatch, history, "--json"))
    assert [e["n"] for e in shown] == list(range(max(total - 20, 0) + 1, total + 1))
    for e in shown:
        assert history[e["n"] - 1]["time"] == e["time"]
    table = run_history(monkeypatch, history)
    rows = [line for line in table.splitlines() if "2026-01-01" in line]
    assert len(rows) == min(total, 20)
    assert rows[-1].split("│")[1].strip() == str(total) and "apply" in rows[-1]


def test_history_shows_hostile_text_literally(monkeypatch):
    history = entries(2)
    history[0] = {**history[0], "who": "[bold red]mallory[/]\x1b]0;owned\x07", "action": "apply\x1b[2J"}
    out = run_history(monkeypatch, history)
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold red]mallory[/]" in out


# --- app.home against the host, at plan time (checks.check_home) ----------------------------------------------------

def at(home: str, name: str = "demo"):
    return parse_spec(BASE.replace('name = "demo"\n', f'name = "{name}"\nhome = "{home}"\n', 1))


OTHER = {"other": {"name": "other", "uid": 2500, "gid": 2500, "home": "/srv/apps/other"}}


def d(uid: int, *, link: bool = False, is_dir: bool = True) -> FileStat:
    return FileStat(0o750, uid, uid, is_dir=is_dir, is_link=link)


@pytest.mark.parametrize(("home", "stat", "entries", "why"), [
    ("/srv/apps/other", d(2500), [], "overlaps the home of roost app other"),
    ("/srv/apps/other/inner", None, None, "overlaps the home of roost app other"),
    ("/srv/apps", d(0), [("other", d(2500))], "overlaps the home of roost app other"),
    ("/srv/taken", d(1000), [("notes.txt", FileStat(0o644, 1000, 1000, is_dir=False, is_file=True))], "UID 1000"),
    ("/srv/taken", d(0), [("keep", FileStat(0o644, 0, 0, is_dir=False, is_file=True))], "UID 0"),
    ("/srv/linked", d(0, link=True), None, "symbolic link"),
    ("/srv/afile", d(0, is_dir=False), None, "not a directory"),
])
def test_home_on_the_host_refused(home, stat, entries, why):
    with pytest.raises(UsageError) as err:
        check_home(at(home), system({}, apps=OTHER), 2000, HomeFacts(home=stat, entries=entries))
    assert err.value.message.startswith("app.home") and why in err.value.message, err.value.message


@pytest.mark.parametrize(("home", "stat", "entries"), [
    ("/srv/apps/demo", None, None),               # roost creates it
    ("/srv/apps/demo", d(0), []),                 # empty and root's: prepared by the admin
    ("/srv/apps/demo", d(2000), [("env", d(2000))]),  # this app's own, from an earlier apply
    ("/srv/apps/otherwise", None, None),          # a name that merely starts like another app's home
])
def test_home_on_the_host_accepted(home, stat, entries):
    check_home(at(home), system({}, apps=OTHER), 2000, HomeFacts(home=stat, entries=entries))


# --- bounded reads of host files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/proc/sys/net/ipv4/ip_unprivileged_port_start", "/proc/sys/kernel/ostype"])
def test_bounded_read_of_a_kernel_file(path):
    """A read bounded at MAX_READ must not ask the kernel for MAX_READ + 1 bytes at once: /proc/sys answers a
    count of 4 MiB or more with ENOMEM (doctor reads ip_unprivileged_port_start this way)."""
    from roost.host import safefs

    with open(path) as fh:
        assert safefs.read_text(path) == fh.read()
