"""What `apply` and `down` do to the front door. A site only takes effect after `caddy validate`
accepted the whole configuration; a rejected one is put back as it was, so running sites keep serving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from roost.errors import RoostError
from roost.frontdoor.guard import verify
from roost.frontdoor.render import MAIN_CADDYFILE, has_import, site_file, with_import
from roost.frontdoor.state import SERVICE
from roost.host.runner import Host
from roost.plan.actions import Action, WriteFile
from roost.render.desired import FileWant
from roost.survivors import AppIds

if TYPE_CHECKING:
    from roost.plan.context import Context


def validate_argv(host: Host) -> list[str]:
    argv = ["caddy", "validate", "--config", MAIN_CADDYFILE, "--adapter", "caddyfile"]
    # as the service's own user: what it provisions (the internal CA) lands in the service's storage
    if host.run(["id", "-u", "caddy"], check=False).ok:
        return ["runuser", "-u", "caddy", "--", *argv]
    return argv


def caddy_message(stderr: str) -> str:
    """Caddy's own words: its `Error:` line, else the last lines it wrote."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return "\n".join(errors or lines[-5:]) or "caddy validate failed without a message"


def reload(host: Host) -> None:
    """Graceful: a running Caddy swaps configurations without dropping connections; a stopped one starts."""
    host.run(["systemctl", "enable", SERVICE], mutates=True, check=False)
    r = host.run(["systemctl", "reload-or-restart", SERVICE], mutates=True, check=False, timeout=120)
    if not r.ok:
        raise RoostError(f"caddy did not take the new configuration: {r.stderr.strip()}",
                         hint="see `journalctl -u caddy -n 50`; ports 80 and 443 must be free for it (`roost doctor`)")


@dataclass(frozen=True)
class PublishSite(Action):
    """Write the app's site file (and the main Caddyfile's import line), validate, then reload. The
    site forwards only if the listener on the app's port is the app's own (frontdoor/guard.py);
    otherwise its closed form (503) is written and the event reported."""

    site: WriteFile
    main: WriteFile | None = None  # the main Caddyfile as planned, when its import line is missing
    closed: str = ""  # the site's closed form
    dial: tuple[str, int] = ("127.0.0.1", 0)  # where Caddy connects

    def describe(self) -> str:
        what = self.site.describe()
        if self.main is not None:
            what += f", add the import line to {MAIN_CADDYFILE}"
        return f"{what}; check it with `caddy validate`, then reload caddy (graceful)"

    def detail(self) -> str | None:
        return "".join(w.detail() or "" for w in (self.site, self.main) if w is not None) or None

    def execute(self, ctx: Context) -> None:
        host = ctx.host
        site = self.site
        if self.closed:
            verdict = verify(host, *self.dial, app_ids(ctx.identity))
            if not verdict.ok:
                site = WriteFile(FileWant(site.want.path, self.closed, 0o644, 0, 0), site.old)
                say(ctx, f"the site of {ctx.layout.name} answers 503 until the app listens on its port: {verdict.why}")
        written = [site]
        # the main Caddyfile is read again now: installing caddy a moment ago may have just created it
        current = host.read_file(MAIN_CADDYFILE)
        if current is None or not has_import(current):
            written.append(WriteFile(FileWant(MAIN_CADDYFILE, with_import(current), 0o644, 0, 0), current))
        for w in written:
            w.execute(ctx)
        check = host.run(validate_argv(host), check=False, timeout=120)
        if not check.ok:
            restore(host, written)
            raise RoostError(f"caddy rejected the site of {ctx.layout.name}, so nothing changed for Caddy:\n"
                             f"{caddy_message(check.stderr)}",
                             hint=f"fix the web section of the spec (or {MAIN_CADDYFILE}) and apply again; "
                                  "the sites already running keep serving")
        try:
            reload(host)
        except RoostError:
            restore(host, written)
            host.run(["systemctl", "reload-or-restart", SERVICE], mutates=True, check=False, timeout=120)
            raise


def restore(host: Host, written: list[WriteFile]) -> None:
    for w in written:
        if w.old is None:
            host.remove_file(w.want.path)
        else:
            host.write_file(w.want.path, w.old, mode=w.want.mode, uid=w.want.uid, gid=w.want.gid)


def app_ids(identity) -> AppIds:
    from roost.layout import SUBID_COUNT

    start = identity.subid_start or 0
    return AppIds(identity.uid, identity.gid, start, SUBID_COUNT if start else 0)


def say(ctx: Context, message: str) -> None:
    if ctx.ui is not None:
        ctx.ui.print(f"[yellow]front door[/]: {message}", highlight=False)


@dataclass(frozen=True)
class CloseSite(Action):
    """Before roost stops or restarts the pod: the site answers 503, so no request can reach
    whoever binds the port while it is free. Opened again (checked) after the pod is up."""

    name: str
    closed: str

    def describe(self) -> str:
        return f"close {site_file(self.name)} (503) while the pod restarts: nobody else can take its port meanwhile"

    def execute(self, ctx: Context) -> None:
        from roost.frontdoor.guard import Door, set_site

        set_site(ctx.host, Door(self.name, "", 0, app_ids(ctx.identity), "", self.closed), self.closed)


@dataclass(frozen=True)
class InstallDoorWatch(Action):
    """The watcher (roost-door.service) and its boot step (roost-door-boot.service, before Caddy)."""

    units: tuple[WriteFile, ...]

    def describe(self) -> str:
        return "install and start roost-door.service (the front door's watcher: a site forwards only to the app's own listener)"

    def detail(self) -> str | None:
        return "".join(w.detail() or "" for w in self.units) or None

    def execute(self, ctx: Context) -> None:
        for w in self.units:
            w.execute(ctx)
        ctx.host.run(["systemctl", "daemon-reload"], mutates=True)
        ctx.host.run(["systemctl", "enable", "roost-door-boot.service"], mutates=True)
        ctx.host.run(["systemctl", "enable", "roost-door.service"], mutates=True)
        ctx.host.run(["systemctl", "restart", "roost-door.service"], mutates=True)


@dataclass(frozen=True)
class StartCaddy(Action):
    def describe(self) -> str:
        return f"systemctl enable --now {SERVICE} (the front door)"

    def execute(self, ctx: Context) -> None:
        reload(ctx.host)


def remove_site(host: Host, name: str, reload_caddy: bool = True) -> bool:
    """Take the app's site away (roost down). True if there was one."""
    path = site_file(name)
    if host.read_file(path) is None:
        return False
    host.remove_file(path)
    if reload_caddy and host.run(["systemctl", "is-active", "--quiet", SERVICE], check=False).ok:
        host.run(["systemctl", "reload", SERVICE], mutates=True, check=False, timeout=120)
    return True


@dataclass(frozen=True)
class RemoveSite(Action):
    name: str
    why: str = "the spec has no web section any more"

    def describe(self) -> str:
        return f"remove {site_file(self.name)} ({self.why}) and reload caddy"

    def execute(self, ctx: Context) -> None:
        remove_site(ctx.host, self.name)
