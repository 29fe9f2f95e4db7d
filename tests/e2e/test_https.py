"""Issue 10: the front door. Two apps behind the lab's Caddy with its internal CA, checked from this
machine over real HTTPS: notes served, HTTP redirected, the client's address forwarded, a WebSocket
round trip, updates without a failed request, a site Caddy rejects, a reboot.

The apps follow their own tags (notes:web-a, notes:web-b) so pushing new versions disturbs no other test.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Callable

import pytest
from tests.e2e.conftest import Probe, as_app, notes_spec, put, roost

from roost.lab import images

pytestmark = pytest.mark.lab

A = {"name": "webnotes", "uid": 2470, "port": 8470, "domain": "notes.lab.test", "tag": "web-a"}
B = {"name": "webtwo", "uid": 2471, "port": 8471, "domain": "two.lab.test", "tag": "web-b"}
ROOT_CA = "var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
CLIENT_IP = "127.0.0.2"  # a source address of our own: what the app must be told, not the proxy's


def spec_text(app: dict, extra_web: str = "") -> str:
    text = notes_spec(app["name"], app["uid"], app["port"], notes_tag=app["tag"], app='health_timeout = "60s"')
    return text + f'\n[web]\ndomains = ["{app["domain"]}"]\ntls = "internal"\n{extra_web}'


def spec_path(app: dict) -> str:
    return f"/var/tmp/specs/{app['name']}.toml"


def ca_file(lab) -> str:
    return str(lab.rootfs / ROOT_CA)


def context(lab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file(lab))


def https(lab, domain: str, method: str = "GET", path: str = "/", body: bytes | None = None,
          headers: dict[str, str] | None = None, timeout: float = 15) -> tuple[int, dict[str, str], str]:
    """A request to https://DOMAIN/ sent to 127.0.0.1 (curl --resolve), verified against the lab's CA,
    from CLIENT_IP."""
    conn = http.client.HTTPSConnection(domain, 443, timeout=timeout, context=context(lab),
                                       source_address=(CLIENT_IP, 0))
    conn._create_connection = lambda addr, *a, **kw: socket.create_connection(("127.0.0.1", addr[1]), *a, **kw)  # type: ignore[attr-defined]
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        conn.close()


def curl(lab, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURL_", "SSL_", "REQUESTS_"))}
    return subprocess.run(["curl", "-sS", "--max-time", "15", *args], capture_output=True, text=True, env=env,
                          check=False)


def wait_https(lab, domain: str, path: str = "/", timeout: float = 120) -> str:
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            code, _, body = https(lab, domain, path=path, timeout=5)
            if code == 200:
                return body
            last = f"{code} {body[:200]}"
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.5)
    raise AssertionError(f"https://{domain}{path} did not answer 200 within {timeout}s (last: {last})")


def through_proxy(lab, domain: str) -> Callable[[], str | None]:
    """A Probe attempt: /status through Caddy at domain answers 200."""
    def attempt() -> str | None:
        try:
            code, _, body = https(lab, domain, path="/status", timeout=30)
            return None if code == 200 else f"{code} {body[:80]!r}"
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            return repr(e)
    return attempt


def deploy(lab, app: dict) -> None:
    put(lab, spec_path(app), spec_text(app))
    roost(lab, "apply", spec_path(app))


@pytest.fixture(scope="module")
def front(lab):
    images.build_notes(lab.machine, "w1", tags=(A["tag"], B["tag"]))
    deploy(lab, A)
    yield lab
    for app in (A, B):
        roost(lab, "down", app["name"], "--purge", "--yes", check=False)


def test_https_serves_the_notes_with_the_internal_ca(front):
    lab = front
    code, _, _ = https(lab, A["domain"], "POST", "/", b"text=through+the+front+door",
                             {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 303
    # the issue's own check, with curl
    cp = curl(lab, "--resolve", f"{A['domain']}:443:127.0.0.1", "--cacert", ca_file(lab), "-i",
              f"https://{A['domain']}/")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("HTTP/2 200") or cp.stdout.startswith("HTTP/1.1 200"), cp.stdout[:300]
    assert "through the front door" in cp.stdout
    assert "strict-transport-security: max-age=31536000" in cp.stdout.lower()
    # the site file is root's, the main Caddyfile kept the package's content and gained one import line
    site = lab.exec(["stat", "-c", "%U %a", f"/etc/caddy/roost.d/{A['name']}.caddy"]).stdout.strip()
    assert site == "root 644"
    main = lab.exec(["cat", "/etc/caddy/Caddyfile"]).stdout
    assert main.count("import /etc/caddy/roost.d/*.caddy") == 1 and "file_server" in main
    assert lab.exec(["systemctl", "is-enabled", "caddy"]).stdout.strip() == "enabled"
    # a second apply changes nothing
    again = roost(lab, "apply", spec_path(A)).stdout
    assert "no changes" in again, again


def test_http_redirects_to_https(front):
    cp = curl(front, "--resolve", f"{A['domain']}:80:127.0.0.1", "-o", "/dev/null",
              "-w", "%{http_code} %{redirect_url}", f"http://{A['domain']}/some/path")
    assert cp.stdout == f"308 https://{A['domain']}/some/path", cp.stdout + cp.stderr


def test_the_app_sees_the_clients_address(front):
    _, _, body = https(front, A["domain"], path="/whoami", headers={"X-Forwarded-For": "6.6.6.6"})
    seen = dict(line.split(": ", 1) for line in body.strip().splitlines() if ": " in line)
    assert seen["x-forwarded-for"] == CLIENT_IP, body  # the client's, and a forged value dropped
    assert seen["x-real-ip"] == CLIENT_IP, body
    assert seen["x-forwarded-proto"] == "https" and seen["x-forwarded-host"] == A["domain"], body
    assert seen["peer"] != CLIENT_IP, body  # the socket is the proxy's: only the header carries it


def test_websocket_round_trip_through_the_proxy(front):
    key = base64.b64encode(os.urandom(16)).decode()
    raw = socket.create_connection(("127.0.0.1", 443), timeout=10, source_address=(CLIENT_IP, 0))
    ctx = context(front)
    ctx.set_alpn_protocols(["http/1.1"])
    with ctx.wrap_socket(raw, server_hostname=A["domain"]) as s:
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: {A['domain']}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, f"connection closed during the handshake: {head!r}"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        assert {k.lower(): v for k, v in fields.items()}["sec-websocket-accept"] == accept.decode(), head
        message, mask = "hello through caddy ✓".encode(), os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(message)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(message)))
        frame = rest
        while len(frame) < 2 + len(message):
            chunk = s.recv(4096)
            assert chunk, f"connection closed before the echo: {frame!r}"
            frame += chunk
        assert frame[0] == 0x81 and frame[1] == len(message) and frame[2:2 + len(message)] == message, frame


def test_a_second_app_on_another_domain_is_served_beside_it(front):
    lab = front
    deploy(lab, B)
    assert wait_https(lab, B["domain"], "/version").strip() == "w1"
    assert "through the front door" in wait_https(lab, A["domain"])
    status = {a["app"]: a for a in json.loads(roost(lab, "status", "--json").stdout)}
    assert status[B["name"]]["url"] == f"https://{B['domain']}/"
    assert status[A["name"]]["certificates"][A["domain"]].startswith("valid until"), status[A["name"]]
    doctor = roost(lab, "doctor", "--json", check=False)
    assert doctor.stdout.lstrip().startswith("["), doctor.stdout + doctor.stderr
    checks = {c["check"]: c for c in json.loads(doctor.stdout)}
    assert checks["caddy"]["status"] == "ok" and checks["ports 80/443"]["status"] == "ok", checks
    assert checks[f"certificate {B['domain']}"]["status"] == "ok", checks[f"certificate {B['domain']}"]
    log = lab.exec(["journalctl", "-u", "caddy", "--no-pager", "-n", "200"]).stdout
    assert '"host": "notes.lab.test"' in log or "notes.lab.test" in log  # the access log is in the journal


def test_a_domain_of_another_app_is_refused_at_plan_time(front):
    lab = front
    thief = dict(B, name="webthief", uid=2472, port=8472, domain=A["domain"])
    put(lab, spec_path(thief), spec_text(thief))
    cp = roost(lab, "plan", spec_path(thief), check=False)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert f"{A['domain']} is already served by roost app {A['name']}" in cp.stdout + cp.stderr


def test_plan_shows_the_site_diff(front):
    lab = front
    put(lab, "/var/tmp/specs/webtwo-header.toml", spec_text(B, 'headers = { X-Lab = "yes" }\n'))
    out = roost(lab, "plan", "/var/tmp/specs/webtwo-header.toml").stdout
    assert "/etc/caddy/roost.d/webtwo.caddy" in out and re.search(r"^\s*\+\s+X-Lab yes$", out, re.M), out


def test_updating_one_app_keeps_the_other_serving(front):
    lab = front
    images.build_notes(lab.machine, "w2", tags=(B["tag"],))
    with Probe(through_proxy(lab, A["domain"])) as other, Probe(through_proxy(lab, B["domain"])) as itself:
        report = json.loads(roost(lab, "update", B["name"], "--json").stdout)
    assert report["result"] == "updated", report
    assert wait_https(lab, B["domain"], "/version").strip() == "w2"
    print(f"\nFIGURES https update of {B['name']}: the other app {other}; the updated app {itself}")
    assert other.ok > 10 and not other.failures, other.failures[:5]
    assert itself.ok > 10 and not itself.failures, itself.failures[:5]


def test_updating_the_app_itself_fails_no_request_through_https(front):
    lab = front
    images.build_notes(lab.machine, "w3", tags=(A["tag"],))
    with Probe(through_proxy(lab, A["domain"])) as probe:
        report = json.loads(roost(lab, "update", A["name"], "--json").stdout)
    assert report["result"] == "updated", report
    assert wait_https(lab, A["domain"], "/version").strip() == "w3"
    print(f"\nFIGURES https roost update of {A['name']} (client loop every 50 ms through Caddy): {probe}")
    assert probe.ok > 10 and not probe.failures, probe.failures[:5]


def test_the_nightly_auto_update_fails_no_request_through_https(front):
    lab = front
    images.build_notes(lab.machine, "w4", tags=(A["tag"],))
    with Probe(through_proxy(lab, A["domain"])) as probe:
        as_app(lab, "systemctl", "--user", "start", "podman-auto-update.service", uid=A["uid"], name=A["name"])
    assert wait_https(lab, A["domain"], "/version").strip() == "w4"
    print(f"\nFIGURES https podman auto-update of {A['name']}: {probe}")
    assert probe.ok > 10 and not probe.failures, probe.failures[:5]


def test_a_site_caddy_rejects_is_reported_and_the_others_keep_serving(front):
    lab = front
    caddyfile = lab.exec(["cat", "/etc/caddy/Caddyfile"]).stdout
    # the user's own Caddyfile already serves clash.lab.test: Caddy refuses a second definition
    lab.exec(["sh", "-c", "printf '\\nclash.lab.test {\\n\\trespond mine\\n}\\n' >> /etc/caddy/Caddyfile"])
    try:
        before = lab.exec(["cat", "/etc/caddy/roost.d/webtwo.caddy"]).stdout
        put(lab, "/var/tmp/specs/webtwo-clash.toml",
            spec_text(B).replace(f'domains = ["{B["domain"]}"]', f'domains = ["{B["domain"]}", "clash.lab.test"]'))
        cp = roost(lab, "apply", "/var/tmp/specs/webtwo-clash.toml", check=False)
        out = cp.stdout + cp.stderr
        assert cp.returncode == 1, out
        assert "caddy rejected the site of webtwo" in out and "ambiguous site definition" in out, out
        assert lab.exec(["cat", "/etc/caddy/roost.d/webtwo.caddy"]).stdout == before  # put back as it was
        assert "through the front door" in wait_https(lab, A["domain"], timeout=10)
        assert wait_https(lab, B["domain"], "/version", timeout=10).strip() == "w2"
    finally:
        put(lab, "/etc/caddy/Caddyfile", caddyfile)
    roost(lab, "apply", spec_path(B))  # the record matches the running site again


def test_https_answers_after_a_reboot(front):
    lab = front
    state = lab.reboot()
    assert state in ("running", "degraded"), state
    assert "through the front door" in wait_https(lab, A["domain"], timeout=180)
    assert wait_https(lab, B["domain"], "/version", timeout=180).strip() == "w2"


def test_down_removes_the_site_and_leaves_the_other(front):
    lab = front
    roost(lab, "down", B["name"])
    assert lab.exec(["test", "-e", "/etc/caddy/roost.d/webtwo.caddy"], check=False).returncode == 1
    cp = curl(lab, "--resolve", f"{B['domain']}:443:127.0.0.1", "--cacert", ca_file(lab),
              f"https://{B['domain']}/version")
    assert cp.returncode != 0 or cp.stdout.strip() != "w2", cp  # no site: a failed handshake or Caddy's empty answer
    assert "through the front door" in wait_https(lab, A["domain"], timeout=10)
    roost(lab, "down", A["name"], "--purge", "--yes")
    assert lab.exec(["ls", "/etc/caddy/roost.d"]).stdout.strip() == ""
