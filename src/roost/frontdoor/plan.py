"""(spec, front door facts) -> the front door's actions. Pure."""

from __future__ import annotations

from roost.errors import UsageError
from roost.frontdoor.actions import CloseSite, InstallDoorWatch, PublishSite, RemoveSite, StartCaddy
from roost.frontdoor.render import (
    MAIN_CADDYFILE,
    SITES_DIR,
    dial_address,
    has_import,
    render_closed,
    render_site,
    site_file,
    upstream,
    with_import,
)
from roost.frontdoor.state import FrontFacts
from roost.plan.actions import Action, InstallPackages, MakeDir, WriteFile
from roost.render.desired import DirWant, FileWant
from roost.spec.model import Spec


def actions(spec: Spec, front: FrontFacts, package_manager: str | None, restart_pod: bool = False) -> list[Action]:
    """restart_pod: apply stops the pod first (its site was closed): publish the site again, checked."""
    if spec.web is None:
        return [RemoveSite(spec.name)] if front.site is not None else []
    out: list[Action] = []
    if not front.installed:
        if not package_manager:
            raise UsageError("web: the front door needs Caddy, which is not installed, and there is no apt-get or "
                             "dnf to install it",
                             hint="install caddy (https://caddyserver.com/docs/install), then apply again")
        out.append(InstallPackages(package_manager, ("caddy",)))
    if not front.sites_dir:
        out.append(MakeDir(DirWant(SITES_DIR, 0o755, 0, 0)))
    text = render_site(spec)
    up = upstream(spec)
    assert up is not None
    main = None
    if front.caddyfile is None or not has_import(front.caddyfile):
        main = WriteFile(FileWant(MAIN_CADDYFILE, with_import(front.caddyfile), 0o644, 0, 0), front.caddyfile)
    if front.site != text or main is not None or restart_pod:
        dial = dial_address(up).rsplit(":", 1)[0], up.host_port
        out.append(PublishSite(WriteFile(FileWant(site_file(spec.name), text, 0o644, 0, 0), front.site), main,
                               closed=render_closed(spec), dial=dial))
    elif not (front.active and front.enabled):
        out.append(StartCaddy())
    from roost.command import roost_command
    from roost.frontdoor.units import unit_texts

    wanted = unit_texts(roost_command()[0])
    now = dict(front.watch_units)
    if any(now.get(path) != text for path, text in wanted.items()) or not front.watch_active:
        out.append(InstallDoorWatch(tuple(WriteFile(FileWant(path, text, 0o644, 0, 0), now.get(path))
                                          for path, text in wanted.items())))
    return out


def before_pod_stop(spec: Spec, front: FrontFacts) -> list[Action]:
    """Before apply stops or restarts a pod that has a site: close it (see guard.py)."""
    if spec.web is None or front.site is None:
        return []
    return [CloseSite(spec.name, render_closed(spec))]
