"""Read-only facts about the front door on this host, gathered before planning."""

from __future__ import annotations

from dataclasses import dataclass

from roost.frontdoor.render import MAIN_CADDYFILE, SITES_DIR, site_file
from roost.host.runner import Host

CADDY_BIN = "/usr/bin/caddy"
SERVICE = "caddy.service"


@dataclass(frozen=True)
class FrontFacts:
    site: str | None = None  # this app's site file, as it is now
    caddyfile: str | None = None  # the main Caddyfile (the user's; roost adds one import line)
    installed: bool = False
    sites_dir: bool = False
    active: bool = False
    enabled: bool = False
    watch_units: tuple[tuple[str, str | None], ...] = ()  # (path, text now) of the watcher's units
    watch_active: bool = False


def gather_front(host: Host, name: str, wanted: bool) -> FrontFacts:
    """`wanted`: the spec has a [web] section. Without one, only a leftover site file matters."""
    site = host.read_file(site_file(name))
    if not wanted and site is None:
        return FrontFacts()
    installed = host.exists(CADDY_BIN)
    active = enabled = False
    if installed:
        show = host.run(["systemctl", "show", "-p", "ActiveState,UnitFileState", SERVICE], check=False)
        props = dict(line.split("=", 1) for line in show.stdout.splitlines() if "=" in line)
        active = props.get("ActiveState") == "active"
        enabled = props.get("UnitFileState") == "enabled"
    from roost.command import roost_command
    from roost.frontdoor.units import unit_texts

    units = tuple((path, host.read_file(path)) for path in unit_texts(roost_command()[0]))
    watching = host.run(["systemctl", "is-active", "--quiet", "roost-door.service"], check=False).ok
    return FrontFacts(site=site, caddyfile=host.read_file(MAIN_CADDYFILE), installed=installed,
                      sites_dir=host.exists(SITES_DIR), active=active, enabled=enabled, watch_units=units,
                      watch_active=watching)
