"""[network]: one private network per app. Pure: spec rules and the units it renders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from roost.errors import UsageError
from roost.layout import Layout
from roost.record import AppRecord
from roost.render.desired import network_file, render
from roost.render.wants import Identity
from roost.spec.load import parse_spec
from roost.teardown import plan_down
from tests.unit.fakehost import app_record
from tests.unit.test_frontdoor import listening

BASE = """\
[app]
name = "two"

[network]

[containers.db]
image = "example.org/postgres:17"
aliases = ["database"]
volumes = ["db:/var/lib/postgresql/data"]
health = { cmd = "pg_isready" }

[containers.web]
image = "example.org/notes:1"
requires = ["db"]
publish = ["127.0.0.1:8441:3000"]
health = { http = "http://127.0.0.1:3000/status" }

[containers.admin]
image = "example.org/notes:1"
auto_update = "registry"
publish = ["8442:3000"]

[containers.sidecar]
image = "example.org/socat:1"
share_network_with = "admin"
"""
WEB = '\n[web]\ndomains = ["two.example.org"]\ntls = "internal"\nport = 8441\n'


def files(text: str) -> dict[str, str]:
    spec = parse_spec(text, "two.toml")
    return {f.path.rsplit("/", 1)[-1]: f.content for f in render(spec, Identity(2500, 2500, 300000)).files}


def test_each_container_its_own_namespace_on_the_apps_network():
    f = files(BASE)
    assert "NetworkName=two" in f["two.network"]
    web = f["web.container"]
    assert "Network=two.network" in web and "NetworkAlias=web" in web and "Pod=" not in web
    assert "PublishPort=127.0.0.1:8441:3000" in web
    assert "PartOf=two-pod.service" in web and "WantedBy=default.target" in web
    assert "PublishPort=127.0.0.1:8442:3000" in f["admin.container"]  # loopback unless an address is given
    assert "NetworkAlias=database" in f["db.container"]
    side = f["sidecar.container"]
    assert "Network=container:two-admin" in side and "Requires=admin.service" in side and "PublishPort" not in side
    assert "Network=two.network" in f["two.pod"]
    assert "web-next.container" not in f  # no [web]: nothing is started first


def test_auto_updated_containers_outside_the_pod_restart_through_roost():
    spec = parse_spec(BASE, "two.toml")
    d = render(spec, Identity(2500, 2500, 300000))
    dropin = d.layout.user_unit("admin.service.d/roost-auto-update.conf")
    assert dropin in d.user_units and "PODMAN_SYSTEMD_UNIT=roost-restart.service" in d.file(dropin).content
    assert dropin in d.units["admin.service"]


def test_behind_the_front_door_the_stateless_web_container_starts_first():
    spec = parse_spec(BASE + WEB, "two.toml")
    assert spec.start_first("web") and not spec.start_first("db") and not spec.start_first("admin")
    nxt = files(BASE + WEB)["web-next.container"]
    assert "ContainerName=two-web-next" in nxt and "PublishPort=127.0.0.1::3000" in nxt
    assert "NetworkAlias" not in nxt and "AutoUpdate" not in nxt and "[Install]" not in nxt
    assert "io.roost.container=web-next" in nxt
    stateful = parse_spec(BASE.replace('publish = ["127.0.0.1:8441:3000"]',
                                       'publish = ["127.0.0.1:8441:3000"]\nvolumes = ["up:/srv/up"]') + WEB, "t")
    assert not stateful.start_first("web")
    said = parse_spec(BASE.replace('requires = ["db"]', 'requires = ["db"]\nupdate = "stop-first"') + WEB, "t")
    assert not said.start_first("web")


def test_the_site_proxies_to_a_containers_own_port():
    from roost.frontdoor.render import render_site

    spec = parse_spec(BASE + WEB, "two.toml")
    assert "reverse_proxy 127.0.0.1:8441" in render_site(spec)
    assert "reverse_proxy 127.0.0.1:40123" in render_site(spec, "127.0.0.1:40123")


@pytest.mark.parametrize("edit, where", [
    (('[network]\n', ''), "containers.web.publish"),  # the new keys need [network]
    (('share_network_with = "admin"', 'share_network_with = "sidecar"'), "containers.sidecar.share_network_with"),
    (('share_network_with = "admin"', 'share_network_with = "admin"\npublish = ["9000:9000"]'),
     "containers.sidecar.publish"),
    (('publish = ["8442:3000"]', 'publish = ["8441:3000"]'), "containers.web.publish"),
    (('[network]\n', '[network]\n\n[pod]\npublish = ["8000:80"]\n'), "pod.publish"),
])
def test_network_rules_name_the_key(edit, where):
    with pytest.raises(UsageError) as e:
        parse_spec(BASE.replace(*edit), "two.toml")
    assert where in str(e.value.message) + str(e.value.hint or ""), e.value.message


def test_down_removes_the_network_and_an_interrupted_new_release():
    spec = parse_spec(BASE, "two.toml")
    record = AppRecord("two", 2500, 2500, spec.home, "two-pod.service", spec.start_order(), network="two")
    described = [a.describe() for a in plan_down(record, True, purge=False).actions]
    assert any(network_file(Layout("two", spec.home)) in d for d in described)
    assert any("web-next.container" in d for d in described)
    # the network's unit is stopped before the network goes (a unit still "active" would not create it again)
    assert described.index("stop two-network.service") < described.index("remove the network two")


class _Units:
    """Just enough of App for the gate: units whose states a test scripts, and a clock."""

    def __init__(self, spec, states: dict[str, list[str]], checks: list[tuple[int, float]] | None = None) -> None:
        self.spec, self.states, self.now, self.calls = spec, states, 0.0, []
        self.checks = checks  # podman's log of health checks: (exit code, seconds each took); None: no log

    def service(self, c: str) -> str:
        return f"{c}.service"

    def container_name(self, c: str) -> str:
        return f"two-{c}"

    def podman(self, *argv: str, **_: object):
        from roost.host.runner import Result

        self.calls.append(("podman", *argv))
        if self.checks is None:
            return Result(list(argv), 125, "", "no such container")
        now = datetime.now(UTC)  # the checks of the run the gate watches, made since it started
        if any(self._state(u).endswith("=r0") for u in self.states):  # the old run's container: checks of before
            now -= timedelta(seconds=120)
        log = [{"Start": now.isoformat(), "End": (now + timedelta(seconds=took)).isoformat(),
                "ExitCode": code, "Output": ""} for code, took in self.checks]
        return Result(list(argv), 0, json.dumps(log), "")

    def _state(self, unit: str) -> str:
        """A scripted state is 'activating' or 'activating@RUN' (RUN: systemd's InvocationID of that run; by
        default r0, the run before the restart, for the first second, then r1)."""
        at = min(int(self.now), len(self.states[unit]) - 1)
        state, _, run = self.states[unit][at].partition("@")
        return f"ActiveState={state}\nInvocationID={run or ('r0' if at == 0 else 'r1')}"

    def systemctl(self, *argv: str, **_: object):
        from roost.host.runner import Result

        self.calls.append(argv)
        out = ""
        if argv[0] == "show":
            units = argv[argv.index("--") + 1:]
            out = "\n\n".join(f"Id={u}\n{self._state(u)}" for u in units)
        return Result(list(argv), 0, out, "")


def test_the_gate_gives_up_when_the_health_checks_retries_are_spent_not_after_the_timeout():
    from roost import release

    spec = parse_spec(BASE, "two.toml")  # web: interval 10s x 3 retries + 5s timeout + 5s grace = 40 s
    assert release.window(spec, "web") == 40 and spec.app.health_timeout_s == 300
    app = _Units(spec, {"web.service": ["inactive", "activating"]})

    def sleep(s: float) -> None:
        app.now += s

    ok, why = release.start_and_gate(app, {"web.service": "web"}, clock=lambda: app.now, sleep=sleep)  # type: ignore[arg-type]
    assert not ok and "not healthy 41s after it started" in why and 40 < app.now < 45
    assert ("restart", "--no-block", "web.service") in app.calls


@pytest.mark.parametrize("checks, gives_up_at", [
    ([(1, 0.07)] * 5, 36),  # the last 3 failed at once: no timeout to wait for
    ([(1, 0.07)] * 2, 41),  # fewer checks on record than retries: not sure yet
    ([(1, 0.07), (1, 4.9), (1, 0.07)], 41),  # one ran into its timeout (5s): it may hang, wait it out
    ([(1, 0.07), (0, 0.07), (1, 0.07)], 41),  # not every one failed
])
def test_the_gate_does_not_wait_for_a_timeout_when_the_checks_fail_at_once(checks, gives_up_at):
    from roost import release

    spec = parse_spec(BASE, "two.toml")
    assert release.window(spec, "web", hung=False) == 35
    app = _Units(spec, {"web.service": ["inactive", "activating"]}, checks)
    ok, why = release.start_and_gate(app, {"web.service": "web"}, clock=lambda: app.now,  # type: ignore[arg-type]
                                     sleep=lambda s: setattr(app, "now", app.now + s))
    assert not ok and app.now == gives_up_at + 1, (why, app.now)
    assert ("each failing at once" in why) == (gives_up_at < 40), why
    assert ("podman", "inspect", "--format", "{{json .State.Health.Log}}", "two-web") in app.calls


def test_a_rollback_restart_counts_from_the_new_run_not_the_broken_one_still_stopping():
    """The nightly rollback restarts a unit still activating with the broken release, whose container's checks
    all failed at once. Until systemd starts the new run (another InvocationID), neither that run's time nor its
    container's checks are the release the gate judges (the lab's nightly rollback was called failed by them)."""
    from roost import release

    spec = parse_spec(BASE, "two.toml")
    stopping = ["activating@r0"] * 20  # the broken run, stopping for 20 s (its app ignores SIGTERM)
    app = _Units(spec, {"web.service": [*stopping, *["activating@r2"] * 25, "active@r2"]}, [(1, 0.07)] * 5)
    ok, why = release.start_and_gate(app, {"web.service": "web"}, clock=lambda: app.now,  # type: ignore[arg-type]
                                     sleep=lambda s: setattr(app, "now", app.now + s))
    assert ok, why  # 25 s of the new run: inside its 35 s; without InvocationID it gave up at 36 s, failing at once
    # the same, but the new run keeps failing at once: judged from its own start (20 s) + 35 s
    app = _Units(spec, {"web.service": [*stopping, "activating@r2"]}, [(1, 0.07)] * 5)
    ok, why = release.start_and_gate(app, {"web.service": "web"}, clock=lambda: app.now,  # type: ignore[arg-type]
                                     sleep=lambda s: setattr(app, "now", app.now + s))
    assert not ok and "each failing at once" in why and app.now == 20 + 36, (why, app.now)
    # the old run shown failed (killed on stop) before the queued start job runs: not the new release's verdict
    app = _Units(spec, {"web.service": ["failed@r0", "failed@r0", "activating@r2", "active@r2"]}, [(1, 0.07)] * 5)
    ok, why = release.start_and_gate(app, {"web.service": "web"}, clock=lambda: app.now,  # type: ignore[arg-type]
                                     sleep=lambda s: setattr(app, "now", app.now + s))
    assert ok and app.now == 3, (why, app.now)


def test_the_gate_fails_at_once_when_the_container_exits_and_waits_for_dependants():
    from roost import release

    spec = parse_spec(BASE, "two.toml")
    assert release.dependants(spec, ["db"]) == ["db", "web"] and release.dependants(spec, ["admin"]) == [
        "admin", "sidecar"]
    app = _Units(spec, {"db.service": ["activating", "failed"], "web.service": ["inactive"]})
    ok, why = release.start_and_gate(app, {"db.service": "db"}, clock=lambda: app.now,  # type: ignore[arg-type]
                                     sleep=lambda s: setattr(app, "now", app.now + s))
    assert not ok and "db.service failed: its container exited" in why and app.now <= 2


class _Door(_Units):
    """A start-first update's world: units that become active (or never do) and Caddy's site file."""

    def __init__(self, spec, next_healthy: bool) -> None:
        from tests.unit.fakehost import FakeHost

        super().__init__(spec, {})
        self.next_healthy, self.active, self.runs = next_healthy, {"web.service"}, {}
        self.host = FakeHost()
        self.sites: list[str] = []
        self.host.write_file = lambda path, text, **_: self.sites.append(text)  # type: ignore[method-assign]
        self.record = app_record("two", uid=2000, gid=2000, subid_start=200_000_000, home=spec.home)
        for port in (8441, 40123):  # both releases' ports are the app's (rootlessport under the app's IDs)
            listening(self.host, port, 2000)

    def container_name(self, c: str) -> str:
        return f"two-{c}"

    def podman(self, *argv: str, **_: object):
        from roost.host.runner import Result

        return Result(["podman", *argv], 0, "127.0.0.1:40123\n" if argv[0] == "port" else "", "")

    def systemctl(self, *argv: str, **kw: object):
        units = [a for a in argv if a.endswith(".service")]
        if argv[0] in ("start", "restart"):
            for u in units:
                self.active.discard(u)
                self.runs[u] = self.runs.get(u, 0) + 1
                if u != "web-next.service" or self.next_healthy:
                    self.active.add(u)
        if argv[0] == "stop":
            self.active -= set(units)
        self.states = {u: [f"{'active' if u in self.active else 'activating'}@r{self.runs.get(u, 0)}"]
                       for u in ("web.service", "web-next.service")}
        return super().systemctl(*argv, **kw)


@pytest.mark.parametrize("healthy", [True, False])
def test_start_first_switches_the_door_only_to_a_healthy_release(monkeypatch, healthy):
    from roost import release
    from roost.frontdoor import switch

    monkeypatch.setattr(switch, "SETTLE_S", 0)
    spec = parse_spec(BASE + WEB, "two.toml")
    app = _Door(spec, next_healthy=healthy)
    monkeypatch.setattr(release, "CLOCK", [lambda: app.now, lambda s: setattr(app, "now", app.now + s)])
    put_back: list[str] = []
    ok, why = switch.update_start_first(app, ["web"], put_back.append, say=lambda *_: None)  # type: ignore[arg-type]
    restarts = [c for c in app.calls if c[0] == "restart"]
    if healthy:
        assert ok and not put_back
        assert [("reverse_proxy 127.0.0.1:40123" in s, "reverse_proxy 127.0.0.1:8441" in s) for s in app.sites] == [
            (True, False), (False, True)]  # to the new release, then back to the container's own port
        assert restarts == [("restart", "--no-block", "web.service")]
    else:  # the old one was never touched and the door never moved
        assert not ok and "did not get healthy" in why and "it was removed" in why
        assert not app.sites and not restarts and "web.service" in app.active
    assert ("stop", "web-next.service") in app.calls and "web-next.service" not in app.active
    shown = [c for c in app.calls if c[0] == "show"]
    assert all("web.service" not in c for c in shown[:2])  # the new release's gate watches only NAME-next


def test_start_first_never_points_the_door_at_a_port_someone_else_holds(monkeypatch):
    from roost import release
    from roost.frontdoor import switch

    monkeypatch.setattr(switch, "SETTLE_S", 0)
    app = _Door(parse_spec(BASE + WEB, "two.toml"), next_healthy=True)
    listening(app.host, 40123, 1001)  # another user on the standby's loopback port too
    monkeypatch.setattr(release, "CLOCK", [lambda: app.now, lambda s: setattr(app, "now", app.now + s)])
    ok, why = switch.update_start_first(app, ["web"], lambda c: None, say=lambda *_: None)  # type: ignore[arg-type]
    assert not ok and "not only the app's" in why
    assert not any("reverse_proxy 127.0.0.1:40123" in s for s in app.sites)
    assert "reverse_proxy 127.0.0.1:8441" in app.sites[-1]  # back on the old release, which never stopped
    assert not [c for c in app.calls if c[0] == "restart"] and ("stop", "web-next.service") in app.calls


def _standby_door(tmp_path):
    """The front door of the web app while a start-first update points it at web-next (port 40123)."""
    from roost.frontdoor.guard import door_of
    from roost.frontdoor.render import render_site
    from tests.unit.test_frontdoor import caddy_host

    spec = parse_spec(BASE + WEB, "two.toml")
    door = door_of(spec, app_record("two", uid=2000, gid=2000, subid_start=200_000_000, home=spec.home))
    assert door is not None and door.port == 8441
    host = caddy_host()
    host.on("systemctl", "is-active", answer="")
    host.files.pop("/proc/net/tcp", None)
    host.files[door.path] = render_site(spec, "127.0.0.1:40123")
    lock = tmp_path / "two.lock"
    lock.write_text("")
    return host, door, str(lock)


def test_the_watcher_checks_the_standby_port_while_the_door_dials_it(tmp_path):
    from roost.frontdoor.guard import sync

    host, door, lock = _standby_door(tmp_path)
    assert door.standby(host.files[door.path]) == ("127.0.0.1", 40123) and door.standby(door.open_text) is None
    listening(host, 40123, 200_000_123)  # web-next's rootlessport; web restarts: nothing on 8441
    at_next = host.files[door.path]
    assert sync(host, door, lock) is None and host.files[door.path] == at_next
    host.files["/proc/net/tcp"] += host.files["/proc/net/tcp"].splitlines()[1].replace("200000123", "1001") + "\n"
    event = sync(host, door, lock)  # someone else listens on the standby's port as well: closed at once
    assert event is not None and event[0] == "closed" and "UID 1001" in event[1].why
    assert host.files[door.path] == door.closed_text


def test_a_restart_of_the_release_the_door_does_not_dial_closes_nothing(tmp_path, monkeypatch):
    from roost.frontdoor import guard

    host, door, _ = _standby_door(tmp_path)
    monkeypatch.setattr(guard, "load_door", lambda h, name: door)
    at_next = host.files[door.path]
    assert not guard.close(host, "two", own=True) and host.files[door.path] == at_next
    assert guard.close(host, "two", own=False, standby=True) and host.files[door.path] == door.closed_text
    host.files[door.path] = door.open_text  # back on the own port: stopping the standby closes nothing
    assert not guard.close(host, "two", own=False, standby=True) and host.files[door.path] == door.open_text


def test_app_systemctl_names_which_release_stops():
    from roost import app as app_module

    spec = parse_spec(BASE + WEB, "two.toml")
    fake = type("FakeApp", (), {"spec": spec, "layout": Layout("two", "/srv/roost/two"),
                                "service": lambda self, c: f"{c}.service"})()
    own, standby = app_module.App.behind_door(fake)  # type: ignore[arg-type]
    assert own == {"two-pod.service", "web.service"} and standby == {"web-next.service"}
