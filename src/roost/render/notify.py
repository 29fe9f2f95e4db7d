"""Units for notifications: the system path/service pair through which root picks up an app's
events, and the app user's units that report them (see roost.notify)."""

from __future__ import annotations

import roost.units as units
from roost import notify
from roost.layout import Layout
from roost.notify import SPOOL_ROOT
from roost.render.unitfile import UnitFile, quote_word, section
from roost.render.wants import DirWant, FileWant, Identity
from roost.spec.model import Spec

SYSTEM_DIR = "/etc/systemd/system"
PATH_UNIT = "roost-notify@.path"
SERVICE_UNIT = "roost-notify@.service"


def system_units(roost_cmd: tuple[str, ...]) -> dict[str, str]:
    """Templates shared by every app (instance = app name). Written as text: `%i` is a specifier
    here, which the unit serializer would (rightly) escape in a value."""
    cmd = " ".join(quote_word(w) for w in roost_cmd)
    return {
        f"{SYSTEM_DIR}/{PATH_UNIT}": (
            "# Written by roost: events an app's user hands to root, for notifications\n"
            "[Unit]\nDescription=roost: notifications of app %i\n\n"
            f"[Path]\nDirectoryNotEmpty={SPOOL_ROOT}/%i\nMakeDirectory=no\n\n"
            "[Install]\nWantedBy=paths.target\n"
        ),
        f"{SYSTEM_DIR}/{SERVICE_UNIT}": (
            "# Written by roost: reads the app user's events as untrusted input and sends them\n"
            "[Unit]\nDescription=roost: send the notifications of app %i\n\n"
            f"[Service]\nType=oneshot\nExecStart={cmd} notify flush %i\n"
        ),
    }


def user_units(spec: Spec, layout: Layout, roost_cmd: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in sorted(spec.containers):
        out[layout.user_unit(units.failed(name))] = UnitFile((
            section("Unit", ("Description", f"roost: report that {name} of {spec.name} failed")),
            section("Service", ("Type", "oneshot"),
                    ("ExecStart", (*roost_cmd, "notify", "container-failed", spec.name, name))),
        )).render()
    if any(c.auto_update for c in spec.containers.values()):
        # after every nightly run, whatever its outcome (a failed ExecStartPre= included)
        out[layout.user_unit(f"{units.AUTO_UPDATE_SERVICE}.d/roost-notify.conf")] = UnitFile((
            section("Service", ("ExecStopPost", (*roost_cmd, "notify", "auto-update-done", spec.name))),
        )).render()
    return out


def notify_wants(spec: Spec, identity: Identity, roost_cmd: tuple[str, ...], urls: tuple[str, ...]
                 ) -> tuple[list[DirWant], list[FileWant], DirWant]:
    """(root's directories, root's files, the app user's spool directory): the URLs stored
    root-only beside the applied spec, the system units that connect the spool to root."""
    dirs = [DirWant(SPOOL_ROOT, 0o755, 0, 0)]
    files = [FileWant(notify.urls_path(spec.name), notify.render_stored(list(urls)), 0o600, 0, 0, sensitive=True)]
    files += [FileWant(path, content, 0o644, 0, 0) for path, content in system_units(roost_cmd).items()]
    return dirs, files, DirWant(notify.spool_dir(spec.name), 0o700, identity.uid, identity.gid)
