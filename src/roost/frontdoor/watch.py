"""The front door's watcher: a root service (roost-door.service) that keeps each app's site closed
(503) unless the listener on the app's port is the app's own (see guard.py).

Run as `python3 -m roost.frontdoor.watch` (a loop), or with `--close-all` (roost-door-boot.service,
before Caddy starts at boot: every site closed until its app's pod is up and checked). Units: units.py."""

from __future__ import annotations

import sys
import time

from roost.frontdoor.guard import Door, follow_request, load_door, set_site, sync
from roost.frontdoor.render import SITES_DIR
from roost.history import Outcome
from roost.host.runner import Host, Runner
from roost.layout import Layout, list_apps

POLL = 0.2  # seconds between two looks at the ports: the window after a pod stop nobody announced
def sites(host: Host) -> list[str]:
    """Apps with a site file roost wrote."""
    names = {n[:-6] for n, st in host.list_dir(SITES_DIR) or [] if n.endswith(".caddy") and st.is_file}
    return [n for n in list_apps(host) if n in names]


def report(host: Host, door: Door, event: Outcome, why: str) -> None:
    from roost import history
    from roost.record import read_record

    print(f"{door.name}: site {event}: {why}", flush=True)  # the journal of roost-door.service
    try:
        record = read_record(door.name, host)
        history.record(host, record.layout, record.uid, record.gid, "front-door", event, why=why)
    except Exception as e:
        print(f"{door.name}: could not record it in the history: {e}", flush=True)


def close_all(host: Host) -> None:
    for name in sites(host):
        door = load_door(host, name)
        if door is not None and set_site(host, door, door.closed_text):
            report(host, door, "closed", "roost-door started (boot): closed until the app's listener is checked")


def watch(host: Host, rounds: int | None = None) -> None:
    doors: dict[str, tuple[str | None, Door | None]] = {}  # name -> (applied spec text, door), parsed once
    n = 0
    while rounds is None or n < rounds:
        n += 1
        for name in sites(host):
            layout_spec = Layout(name, "/").applied_spec
            text = host.read_file(layout_spec)
            if name not in doors or doors[name][0] != text:
                try:
                    doors[name] = (text, load_door(host, name))
                except Exception as e:
                    print(f"{name}: {e}", flush=True)
                    doors[name] = (text, None)
            door = doors[name][1]
            if door is None:
                continue
            lock = Layout(name, "/").lock_file
            changed = follow_request(host, door, lock) or sync(host, door, lock)
            if changed is not None:
                report(host, door, changed[0], changed[1].why)
        time.sleep(POLL)


def main(argv: list[str]) -> int:
    host = Runner(audit_log=None)
    if "--close-all" in argv:
        close_all(host)
        return 0
    watch(host)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
