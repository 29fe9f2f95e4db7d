"""The front door watcher's system units (see frontdoor/watch.py), as text."""

from __future__ import annotations

UNIT = "roost-door.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
BOOT_UNIT_PATH = "/etc/systemd/system/roost-door-boot.service"


def unit_texts(python: str) -> dict[str, str]:
    """The watcher, and the boot step that closes every site before Caddy starts (enabled, run
    only at boot: a restarted watcher must not close running sites)."""
    from roost.render.unitfile import quote_word

    cmd = f"{quote_word(python)} -m roost.frontdoor.watch"
    return {
        BOOT_UNIT_PATH: (
            "# Written by roost: every roost site closed (503) before Caddy starts; roost-door.service opens\n"
            "# each once the listener on its app's port is the app's own\n"
            "[Unit]\nDescription=roost: close the front door's sites until their apps are checked\n"
            "DefaultDependencies=no\nAfter=local-fs.target\nBefore=caddy.service\n\n"
            f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={cmd} --close-all\n\n"
            "[Install]\nWantedBy=multi-user.target\n"
        ),
        UNIT_PATH: (
            "# Written by roost: a site forwards to its app only while the app's own process listens on its port\n"
            "[Unit]\nDescription=roost: the front door's watcher\nAfter=roost-door-boot.service\n\n"
            f"[Service]\nExecStart={cmd}\nRestart=always\nRestartSec=1\n\n"
            "[Install]\nWantedBy=multi-user.target\n"
        ),
    }
