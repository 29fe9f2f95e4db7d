"""(spec, front door facts) -> the front door's actions. Pure."""

from __future__ import annotations

from roost.errors import UsageError
from roost.frontdoor.actions import PublishSite, RemoveSite, StartCaddy
from roost.frontdoor.render import MAIN_CADDYFILE, SITES_DIR, has_import, render_site, site_file, with_import
from roost.frontdoor.state import FrontFacts
from roost.plan.actions import Action, InstallPackages, MakeDir, WriteFile
from roost.render.desired import DirWant, FileWant
from roost.spec.model import Spec


def actions(spec: Spec, front: FrontFacts, package_manager: str | None) -> list[Action]:
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
    main = None
    if front.caddyfile is None or not has_import(front.caddyfile):
        main = WriteFile(FileWant(MAIN_CADDYFILE, with_import(front.caddyfile), 0o644, 0, 0), front.caddyfile)
    if front.site != text or main is not None:
        out.append(PublishSite(WriteFile(FileWant(site_file(spec.name), text, 0o644, 0, 0), front.site), main))
    elif not (front.active and front.enabled):
        out.append(StartCaddy())
    return out
