"""App spec -> the text of its Caddy site file. Pure: golden-file tested."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from roost.frontdoor.caddyfile import Directive, Raw, d, site
from roost.frontdoor.model import Web
from roost.spec.model import Publish, Spec, upstream

SITES_DIR = "/etc/caddy/roost.d"
MAIN_CADDYFILE = "/etc/caddy/Caddyfile"
IMPORT_LINE = f"import {SITES_DIR}/*.caddy"
IMPORT_COMMENT = "# roost: one site file per app (roost apply writes them, roost down removes them)"
# While the app's container restarts, Caddy holds a request and retries the upstream this long
# (every LB_TRY_INTERVAL) instead of answering 502: updates cost latency, not failed requests.
LB_TRY_DURATION = "10s"
LB_TRY_INTERVAL = "250ms"
# Short both ways: a request held while the upstream is marked down waits at most this long after it is back, and
# a restart shorter than one interval may go unseen, so a request can reach the new release before it is ready
# (an app that listens before its database is: one 503 in a CI run at 1 s). A check every 250 ms is cheap.
HEALTH_INTERVAL = "250ms"
HSTS = "max-age=31536000"
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*\Z")


def site_file(name: str) -> str:
    return f"{SITES_DIR}/{name}.caddy"


@dataclass(frozen=True)
class Health:
    uri: str
    port: int | None  # None: the upstream's own port
    timeout: str


def dial_address(p: Publish) -> str:
    """Where Caddy on the host reaches a published port: a wildcard address is reached on loopback."""
    ip = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(p.ip, p.ip)
    return f"{ip}:{p.host_port}"


def health(spec: Spec, up: Publish) -> Health | None:
    """The first container whose `health.http` check is reachable through a published port."""
    for _, c in sorted(spec.containers.items()):
        if c.health is None or c.health.http is None:
            continue
        url = urlsplit(c.health.http)
        if url.scheme != "http":
            continue
        port = url.port or 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        if not SAFE_PATH_RE.match(path):
            continue
        if port == up.container_port:
            return Health(path, None, c.health.timeout)
        # health_port keeps the upstream's address: only a port published on the same address will do
        other = next((p for p in spec.ports if p.proto == "tcp" and p.container_port == port
                      and dial_address(p).rsplit(":", 1)[0] == dial_address(up).rsplit(":", 1)[0]), None)
        if other is not None:
            return Health(path, other.host_port, c.health.timeout)
    return None


def _headers(web: Web) -> Directive | None:
    values = []
    if web.hsts and web.tls != "off":
        values.append(d("Strict-Transport-Security", HSTS))
    values += [d(name, value) for name, value in web.headers.items()]
    return d("header", body=values) if values else None


def render_site(spec: Spec, dial: str | None = None) -> str:
    """dial: another upstream address than the published port (a new release during an update)."""
    web, up = spec.web, upstream(spec)
    assert web is not None and up is not None, "load_spec checks [web] first"
    body: list[Directive] = [*_tls(web)]
    body.append(d("encode", "zstd", "gzip"))
    if (headers := _headers(web)) is not None:
        body.append(headers)
    if web.max_body:
        body.append(d("request_body", body=[d("max_size", web.max_body)]))
    body.append(d("log", body=[d("output", "stderr")]))  # the access log: Caddy's journal
    proxy = [
        # Caddy itself sets X-Forwarded-For/-Proto/-Host (and drops what a client sent: no trusted proxies)
        d("header_up", "X-Real-IP", Raw("{remote_host}")),
        d("lb_try_duration", LB_TRY_DURATION),
        d("lb_try_interval", LB_TRY_INTERVAL),
    ]
    if (h := health(spec, up)) is not None and not (dial and h.port):
        proxy.append(d("health_uri", h.uri))
        if h.port is not None:
            proxy.append(d("health_port", str(h.port)))
        proxy += [d("health_interval", HEALTH_INTERVAL), d("health_timeout", h.timeout)]
    body.append(d("reverse_proxy", dial or dial_address(up), body=proxy))
    addresses = _addresses(web)
    comment = [f"roost app {spec.name}: {web.url} -> {dial or dial_address(up)}",
               "Written by `roost apply`, removed by `roost down`: edits here are overwritten."]
    return site(addresses, body, comment)


def _tls(web: Web) -> list[Directive]:
    if web.tls == "internal":
        return [d("tls", "internal")]
    if web.tls == "acme":
        assert web.email is not None
        return [d("tls", web.email)]
    return []


def _addresses(web: Web) -> list[str]:
    return list(web.domains) if web.tls != "off" else [f"http://{x}" for x in web.domains]


CLOSED_MARK = "roost: closed"


def render_closed(spec: Spec) -> str:
    """The site while the app's port is not known to be the app's (stopped, or held by someone
    else): same names and certificates, every request answered 503 here, nothing forwarded."""
    web, up = spec.web, upstream(spec)
    assert web is not None and up is not None
    body = [*_tls(web), d("header", "Retry-After", "30"), d("log", body=[d("output", "stderr")]),
            d("respond", f"{spec.name} is not available right now", "503")]
    comment = [f"roost app {spec.name}: {web.url} -> {dial_address(up)} ({CLOSED_MARK}: the listener on the port "
               "is not the app's)",
               "Written by roost; opened again when the app's own process listens there."]
    return site(_addresses(web), body, comment)


def with_import(caddyfile: str | None) -> str:
    """The main Caddyfile with roost's import line (appended once; the user's content is kept).
    Appended, not prepended: a global options block must stay the file's first block."""
    text = caddyfile or ""
    if has_import(text):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    sep = "\n" if text.strip() else ""
    return f"{text}{sep}{IMPORT_COMMENT}\n{IMPORT_LINE}\n"


def has_import(caddyfile: str) -> bool:
    return any(line.strip() == IMPORT_LINE for line in caddyfile.splitlines())
