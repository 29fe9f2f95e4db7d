"""`roost doctor` checks of the front door: Caddy runs and owns ports 80/443, sites are in place,
ACME has its contact email, certificates are renewed in time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from roost.checks import FAIL, OK, WARN, Check, command_repair
from roost.frontdoor import certs
from roost.frontdoor.render import site_file
from roost.frontdoor.state import CADDY_BIN, SERVICE
from roost.host.runner import Host
from roost.record import AppRecord


def listeners_80_443(ss_text: str) -> dict[int, set[str]]:
    """`ss -Hltnp`: port (80, 443) -> names of the programs listening on it."""
    out: dict[int, set[str]] = {}
    for line in ss_text.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        port = cols[3].rpartition(":")[2]
        if port in ("80", "443"):
            out.setdefault(int(port), set()).update(re.findall(r'\(\("([^"]+)"', line) or ["?"])
    return out


def check_frontdoor(host: Host, apps: Mapping[str, AppRecord], now: datetime | None = None) -> list[Check]:
    web = {n: a for n, a in apps.items() if a.domains}
    if not web:
        return []
    now = now or datetime.now(UTC)
    out = []
    if not host.exists(CADDY_BIN):
        return [Check("caddy", FAIL, f"{', '.join(sorted(web))} have a web section but caddy is not installed",
                      "roost apply their specs (it installs caddy)")]
    if host.run(["systemctl", "is-active", "--quiet", SERVICE], check=False).ok:
        out.append(Check("caddy", OK, f"{SERVICE} is running"))
    else:
        out.append(Check("caddy", FAIL, f"{SERVICE} is not running: no app is reachable at its domain",
                         f"systemctl enable --now {SERVICE}; see journalctl -u caddy",
                         [command_repair(["systemctl", "enable", "--now", SERVICE])]))
    ss = host.run(["ss", "-Hltnp", "sport = :80 or sport = :443"], check=False)
    held = listeners_80_443(ss.stdout)
    others = {p: names - {"caddy"} for p, names in held.items() if names - {"caddy"}}
    if others:
        listed = ", ".join(f"{p} ({', '.join(sorted(n))})" for p, n in sorted(others.items()))
        out.append(Check("ports 80/443", FAIL, f"held by another program: {listed}",
                         "stop that program or move it: Caddy needs ports 80 and 443"))
    else:
        out.append(Check("ports 80/443", OK, "free or Caddy's" if held else "free"))
    for name, record in sorted(web.items()):
        text = host.read_file(site_file(name))
        if text is None:
            out.append(Check(f"site {name}", FAIL, f"{site_file(name)} is missing",
                             f"roost apply {record.spec_path}"))
            continue
        if record.tls == "acme" and not re.search(r"^\s*tls \S+@\S+", text, re.M):
            out.append(Check(f"site {name}", FAIL, "uses ACME without a contact email",
                             f"set web.email in {record.spec_path} and apply it"))
            continue
        out.append(Check(f"site {name}", OK, f"{record.url} ({site_file(name)})"))
        if record.tls == "off":
            continue
        for domain in record.domains or ():
            cert = certs.find(host, domain)
            if cert is None:
                out.append(Check(f"certificate {domain}", WARN, "Caddy holds none yet",
                                 "for ACME the domain must resolve to this host and ports 80/443 be reachable; "
                                 "see journalctl -u caddy"))
            elif now >= cert.not_after:
                out.append(Check(f"certificate {domain}", FAIL, cert.describe(now), "see journalctl -u caddy"))
            elif cert.overdue(now):
                out.append(Check(f"certificate {domain}", WARN, f"{cert.describe(now)}: renewal is overdue",
                                 "see journalctl -u caddy (renewal errors)"))
            else:
                out.append(Check(f"certificate {domain}", OK, cert.describe(now)))
    return out
