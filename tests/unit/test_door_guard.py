"""The front door forwards only to the app's own listener: /proc/net/tcp parsing, the owner rule,
the closed form of a site, the checked publish, the close before a pod stops, the watcher's step."""

from __future__ import annotations

import fcntl
import os

import pytest

from roost.apply import prepare
from roost.frontdoor.actions import CloseSite, PublishSite
from roost.frontdoor.guard import (
    Door,
    Listener,
    check_listeners,
    follow_request,
    parse_proc_locks,
    parse_proc_net_tcp,
    parse_request,
    sync,
    unlocked,
)
from roost.frontdoor.render import CLOSED_MARK, render_closed, render_site
from roost.spec.load import load_spec
from roost.survivors import AppIds
from tests.unit.fakehost import converge
from tests.unit.test_frontdoor import SITE, Ctx, caddy_host, listening, write_spec

IDS = AppIds(2000, 2000, 200_000_000, 65536)
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:20C4 00000000:0000 0A 00000000:00000000 00:00000000 00000000  2000        0 11 1 0
   1: 0100007F:20C4 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  2000        0 12 1 0
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 13 1 0
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:20C5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 14 1 0
"""


def test_parse_keeps_listening_sockets_only():
    assert parse_proc_net_tcp(TCP) == [Listener("0100007F", 8388, 2000), Listener("00000000", 22, 0)]
    assert parse_proc_net_tcp(TCP6) == [Listener("00000000000000000000000000000000", 8389, 1001)]
    assert parse_proc_net_tcp("header\ngarbage line\n") == []


@pytest.mark.parametrize("listeners, ok, why", [
    ([Listener("0100007F", 8388, 2000)], True, "is the app's"),
    ([Listener("0100007F", 8388, 200_012_345)], True, "is the app's"),  # rootlessport under a subordinate ID
    ([], False, "nothing listens on port 8388"),
    ([Listener("0100007F", 8388, 1001)], False, "held by UID 1001"),  # a squatter while the pod was stopped
    ([Listener("00000000", 8388, 1001)], False, "held by UID 1001"),  # a wildcard takes loopback connections
    ([Listener("00000000000000000000000000000000", 8388, 1001)], False, "held by UID 1001"),  # :: (dual stack)
    ([Listener("0000000000000000FFFF00000100007F", 8388, 1001)], False, "held by UID 1001"),  # ::ffff:127.0.0.1
    ([Listener("0100007F", 8388, 2000), Listener("00000000", 8388, 1001)], False, "held by UID 1001"),
    ([Listener("0100007F", 8388, 200_065_536)], False, "held by UID 200065536"),  # the next app's range
    # another address of the same port takes nothing from the app: it must not close its site either
    ([Listener("0100007F", 8388, 2000), Listener("0200007F", 8388, 1001)], True, "is the app's"),
    ([Listener("0200007F", 8388, 1001)], False, "nothing listens"),
])
def test_the_listener_must_be_the_apps(listeners, ok, why):
    verdict = check_listeners(listeners, "127.0.0.1", 8388, IDS)
    assert verdict.ok is ok and why in verdict.why


def test_closed_site_keeps_names_and_tls_and_forwards_nothing(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    closed = render_closed(spec)
    assert "notes.lab.test {" in closed and "tls internal" in closed and CLOSED_MARK in closed
    assert 'respond "notes is not available right now" 503' in closed and "reverse_proxy" not in closed
    assert closed != render_site(spec)


def publish(tmp_path, host) -> PublishSite:
    (p,) = [a for a in prepare(write_spec(tmp_path), host).plan.actions if isinstance(a, PublishSite)]
    return p


def test_publish_writes_the_closed_form_while_someone_else_holds_the_port(tmp_path):
    host = caddy_host()
    host.files.pop("/proc/net/tcp")
    listening(host, 8388, 1001)  # another local user bound it first
    host.on("runuser", answer="Valid configuration\n")
    host.on("systemctl", answer="")
    p = publish(tmp_path, host)
    p.execute(Ctx(host))
    assert host.files[SITE] == render_closed(load_spec(write_spec(tmp_path)))
    host.files.pop("/proc/net/tcp")
    listening(host, 8388, 2000)
    p.execute(Ctx(host))
    assert host.files[SITE] == render_site(load_spec(write_spec(tmp_path)))


def test_a_pod_restart_closes_the_site_first_and_publishes_it_again_checked(tmp_path):
    host = caddy_host()
    prep = prepare(write_spec(tmp_path), host)
    converge(host, prep)
    host.files[SITE] = render_site(prep.spec)
    host.files["/etc/caddy/Caddyfile"] += "\nimport /etc/caddy/roost.d/*.caddy\n"
    # a changed pod unit: every container restarts with the pod
    host.files[prep.desired.layout.pod_file] = "changed\n"
    kinds = [type(a).__name__ for a in prepare(write_spec(tmp_path), host).plan.actions]
    assert kinds.index("CloseSite") < kinds.index("StartUnits") < kinds.index("PublishSite")


def test_close_site_writes_the_closed_form_and_reloads(tmp_path):
    host = caddy_host()
    spec = load_spec(write_spec(tmp_path))
    host.files[SITE] = render_site(spec)
    host.on("systemctl", "is-active", answer="")
    CloseSite("notes", render_closed(spec)).execute(Ctx(host))
    assert host.files[SITE] == render_closed(spec) and ("systemctl", "reload", "caddy.service") in host.calls
    host.files.pop(SITE)
    CloseSite("notes", render_closed(spec)).execute(Ctx(host))
    assert SITE not in host.files  # a site roost removed is not brought back


def test_watcher_step_closes_at_once_and_opens_only_while_no_verb_holds_the_lock(tmp_path):
    host = caddy_host()
    host.on("systemctl", "is-active", answer="")
    spec = load_spec(write_spec(tmp_path))
    door = Door("notes", "127.0.0.1", 8388, IDS, render_site(spec), render_closed(spec))
    host.files[SITE] = door.open_text
    host.files.pop("/proc/net/tcp")
    lock = str(tmp_path / "notes.lock")
    with open(lock, "w"):
        pass
    event = sync(host, door, lock)  # the pod stopped: nothing listens
    assert event is not None and event[0] == "closed" and host.files[SITE] == door.closed_text
    listening(host, 8388, 2000)
    fd = os.open(lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a roost verb at work on the app
    try:
        assert sync(host, door, lock) is None and host.files[SITE] == door.closed_text
    finally:
        os.close(fd)
    event = sync(host, door, lock)
    assert event is not None and event[0] == "opened" and host.files[SITE] == door.open_text
    assert sync(host, door, lock) is None  # nothing to change


def test_unlocked_without_a_lock_file(tmp_path):
    with unlocked(str(tmp_path / "none.lock")) as free:
        assert free


def test_app_systemctl_stop_of_the_pod_closes_its_site_first(tmp_path, monkeypatch):
    from roost import app as app_module

    closed: list[str] = []
    monkeypatch.setattr("roost.frontdoor.guard.close", lambda host, name, **_: closed.append(name) or True)
    host = caddy_host()
    host.on("systemctl", answer="")
    fake = type("FakeApp", (), {"host": host, "user": None, "spec": load_spec(write_spec(tmp_path)),
                                "layout": type("L", (), {"pod_service": "notes-pod.service"})(),
                                "behind_door": app_module.App.behind_door})()
    app_module.App.systemctl(fake, "is-active", "notes-pod.service")  # type: ignore[arg-type]
    assert closed == []
    app_module.App.systemctl(fake, "stop", "notes-pod.service", mutates=True)  # type: ignore[arg-type]
    assert closed == ["notes"]


def test_watcher_boot_step_closes_every_site_and_a_round_opens_a_checked_one(tmp_path, monkeypatch):
    from roost.frontdoor import watch
    from tests.unit.fakehost import converge

    host = caddy_host()
    host.on("systemctl", "is-active", answer="")
    prep = prepare(write_spec(tmp_path), host)
    converge(host, prep)
    spec = prep.spec
    host.files[SITE] = render_site(spec)
    host.files[prep.desired.layout.applied_spec] = write_spec(tmp_path).read_text()
    monkeypatch.setattr(watch, "list_apps", lambda host: ["notes", "other"])
    monkeypatch.setattr(watch, "report", lambda host, door, event, why: events.append((door.name, event, why)))
    events: list[tuple[str, str, str]] = []
    assert watch.sites(host) == ["notes"]  # "other" has no site file
    watch.close_all(host)
    assert host.files[SITE] == render_closed(spec) and events[-1][:2] == ("notes", "closed")
    monkeypatch.setattr(watch, "POLL", 0)
    watch.watch(host, rounds=1)  # the app's own listener (caddy_host): opened
    assert host.files[SITE] == render_site(spec) and events[-1][:2] == ("notes", "opened")
    host.files.pop("/proc/net/tcp")
    listening(host, 8388, 1001)
    watch.watch(host, rounds=1)
    assert host.files[SITE] == render_closed(spec) and events[-1] == ("notes", "closed",
                                                                     "port 8388 is held by UID 1001, not by the app")


# --- the app's own nightly update asks the watcher for its standby release (frontdoor/ask_door) ----------------------

def test_a_request_is_a_loopback_port_or_nothing():
    assert parse_request("127.0.0.1:40123\n") == ("127.0.0.1", 40123)
    for text in (None, "", "own\n", "10.0.0.5:80", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:80\nmore", "[::1]:80"):
        assert parse_request(text) is None, text


def test_proc_locks_gives_the_holders_of_one_file_not_its_waiters():
    text = ("1: FLOCK  ADVISORY  WRITE 4242 00:1a:77 0 EOF\n"
            "1: -> FLOCK  ADVISORY  WRITE 5151 00:1a:77 0 EOF\n"
            "2: POSIX  ADVISORY  WRITE 99 fd:01:77 0 EOF\n"
            "3: FLOCK  ADVISORY  WRITE 7 00:1a:78 0 EOF\n")
    assert parse_proc_locks(text, (0, 0x1A), 77) == [4242]


def _held(host, lock: str, uid: int) -> int:
    """Lock `lock` for real and make the fake /proc say its holder runs as `uid`."""
    fd = os.open(lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    with open("/proc/locks") as f:
        host.files["/proc/locks"] = f.read()
    host.files[f"/proc/{os.getpid()}/status"] = f"Name:\troost\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
    return fd


def test_the_watcher_follows_the_apps_request_only_to_its_own_listeners_and_only_for_its_own_run(tmp_path):
    host = caddy_host()
    host.on("systemctl", "is-active", answer="")
    spec = load_spec(write_spec(tmp_path))
    request = str(tmp_path / "door-request")
    door = Door("notes", "127.0.0.1", 8388, IDS, render_site(spec), render_closed(spec), spec, request)
    host.files[SITE] = door.open_text
    lock = str(tmp_path / "notes.lock")
    open(lock, "w").close()
    listening(host, 8388, 2000)
    listening(host, 40123, 200_000_001)  # the standby release: rootlessport under one of the app's IDs
    listening(host, 40999, 1001)  # somebody else's
    standby = render_site(spec, "127.0.0.1:40123")

    host.files[request] = "127.0.0.1:40123\n"
    assert follow_request(host, door, lock) is None  # nobody holds the lock: the request is stale, not followed
    fd = _held(host, lock, 0)  # a root verb at work: it switches the site itself
    try:
        assert follow_request(host, door, lock) is None and host.files[SITE] == door.open_text
    finally:
        os.close(fd)
    fd = _held(host, lock, 2000)  # the app's own restart-changed
    try:
        event = follow_request(host, door, lock)
        assert event is not None and event[0] == "standby" and host.files[SITE] == standby
        assert sync(host, door, lock) is None and host.files[SITE] == standby  # the round after keeps it
        host.files[request] = "127.0.0.1:40999\n"  # a port another user holds: never
        assert follow_request(host, door, lock) is None and host.files[SITE] == standby
        host.files[request] = "own\n"
        event = follow_request(host, door, lock)
        assert event is not None and event[0] == "opened" and host.files[SITE] == door.open_text
    finally:
        os.close(fd)
