"""Start-before-stop behind the front door (`roost update`, containers with update = start-first).

1. start NAME-next (the new image, a loopback port the kernel picks) beside NAME and gate it;
   never healthy: stop it (Quadlet removes it) and stop there: NAME never stopped serving;
2. point Caddy's upstream at NAME-next (graceful reload: running requests finish on the old one);
3. restart NAME on the new image and gate it, then point Caddy back at NAME's own port;
4. stop NAME-next.
Caddy holds a request whose upstream refuses the connection (lb_try_duration), so each switch
costs latency, not failed requests. Runs as root: only root writes Caddy's site files.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING

from roost import release
from roost.errors import RoostError
from roost.frontdoor.actions import reload
from roost.frontdoor.guard import door_of, verify
from roost.frontdoor.render import render_site, site_file, upstream
from roost.layout import next_container

if TYPE_CHECKING:
    from roost.app import App

LOOPBACK_PORT_RE = re.compile(r"^127\.0\.0\.1:([0-9]{1,5})\Z")
SETTLE_S = 1.0  # after a reload, before the upstream it left is stopped: its last answers go out


def point_at(app: App, dial: str | None) -> bool:
    """The app's site with another upstream (None: its own published port), reloaded gracefully. Open
    only while every listener on that port is the app's (guard.py); else the closed form is written
    (the watcher opens the site again once the app's own port is the app's) and False returned."""
    door = door_of(app.spec, app.record)
    assert door is not None, "start-first needs [web]"
    ip, port = (door.ip, door.port) if dial is None else (dial.rsplit(":", 1)[0], int(dial.rsplit(":", 1)[1]))
    ok = verify(app.host, ip, port, door.ids).ok
    text = render_site(app.spec, dial) if ok else door.closed_text
    app.host.write_file(site_file(app.spec.name), text, mode=0o644, uid=0, gid=0)
    reload(app.host)
    time.sleep(SETTLE_S)
    return ok


ASK_WAIT_S = 20.0  # the watcher looks every 0.2 s; Caddy's graceful reload takes the rest


def ask_door(app: App, dial: str | None) -> bool:
    """point_at for the app's own nightly update, run as its user (podman auto-update ->
    roost restart-changed), which cannot write Caddy's files: ask root's watcher (guard.follow_request)
    through a file in the app's state folder, and wait until the site dials `dial` (None: the app's
    own port). The watcher checks the listener there is the app's, as point_at does."""
    want = render_site(app.spec, dial)
    app.host.write_file(app.layout.door_request, f"{dial or 'own'}\n", mode=0o600, uid=app.user.uid,
                        gid=app.record.gid)
    deadline = time.monotonic() + ASK_WAIT_S
    while time.monotonic() < deadline:
        if app.host.read_file(site_file(app.spec.name)) == want:
            time.sleep(SETTLE_S)
            return True
        time.sleep(0.2)
    return False


def next_address(app: App, container: str) -> str:
    """Where the new release answers on the host: `podman port` of NAME-next for the site's port."""
    up = upstream(app.spec)
    assert up is not None
    name = app.container_name(next_container(container))
    r = app.podman("port", name, f"{up.container_port}/tcp", check=False)
    # the app user's podman answers: only a loopback address with a port number reaches Caddy's site file
    found = [m for x in r.stdout.splitlines() if (m := LOOPBACK_PORT_RE.match(x.strip()))]
    if not r.ok or not found or not 1 <= int(found[0][1]) <= 65535:
        raise RoostError(f"podman did not say where {name} publishes port {up.container_port}: "
                         f"{r.stderr.strip()[-200:]}")
    return f"127.0.0.1:{int(found[0][1])}"


def update_start_first(app: App, containers: list[str], put_back: Callable[[str], None], say=print, status=None,
                       point: Callable[[App, str | None], bool] = point_at) -> tuple[bool, str]:
    """Replace each container with its new release without stopping the old one before the new one is
    healthy. put_back(c): make c's image reference name its previous image again (a failed release).
    point: how the site is switched (root: point_at; the app's own nightly run: ask_door)."""
    def gate(units: dict[str, str], what: str, restart: bool) -> tuple[bool, str]:
        with status(f"waiting until {what} is healthy") if status else nullcontext():
            return release.start_and_gate(app, units, restart=restart)

    for c in containers:
        nxt = app.service(next_container(c))
        say(f"starting the new release of {c} beside the old one ({nxt})")
        app.systemctl("stop", nxt, mutates=True, check=False, timeout=120)  # left over by an interrupted update
        ok, why = gate({nxt: c}, nxt, restart=False)
        if not ok:
            app.systemctl("stop", nxt, mutates=True, check=False, timeout=120)
            app.systemctl("reset-failed", nxt, mutates=True, check=False)
            return False, f"the new release of {c} did not get healthy ({why}); it was removed"
        if not point(app, next_address(app, c)):  # its port is not the app's: never forward there
            app.systemctl("stop", nxt, mutates=True, check=False, timeout=120)
            point(app, None)
            return False, f"the new release of {c} listens on a port that is not only the app's; it was removed"
        say(f"the front door sends {app.spec.name}'s requests to the new release; replacing {c}")
        ok, why = gate({app.service(c): c}, c, restart=True)
        if not ok:  # the door stays on the new release while c gets its previous image back
            put_back(c)
            gate({app.service(c): c}, c, restart=True)
        point(app, None)
        app.systemctl("stop", nxt, mutates=True, check=False, timeout=120)
        if not ok:
            return False, f"{c} did not get healthy on the new image ({why}); it runs its previous image again"
    return True, ""
