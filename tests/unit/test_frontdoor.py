"""The front door: [web] rules, the site file renderer (golden files), the Caddyfile import line,
the plan's actions, validate-then-reload with restore, domain conflicts, certificates, doctor.

Regenerate the golden files after an intended change with:
    ROOST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_frontdoor.py
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roost.apply import prepare
from roost.command import roost_command
from roost.errors import RoostError, SpecError, UsageError
from roost.frontdoor import certs
from roost.frontdoor.actions import PublishSite, RemoveSite, StartCaddy, caddy_message
from roost.frontdoor.caddyfile import word
from roost.frontdoor.doctor import check_frontdoor, listeners_80_443
from roost.frontdoor.render import IMPORT_LINE, has_import, render_site, with_import
from roost.frontdoor.units import unit_texts
from roost.host.runner import FileStat, Result
from roost.lab.config import web_hints
from roost.plan import actions as A
from roost.render.desired import Identity
from roost.spec.load import parse_spec
from tests.unit.fakehost import app_record, bare_host, converge

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden_frontdoor"
UPDATE = os.environ.get("ROOST_UPDATE_GOLDEN") == "1"
SITE = "/etc/caddy/roost.d/notes.caddy"
DEBIAN_CADDYFILE = ":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n"

BASE = """
[app]
name = "notes"

[pod]
publish = {publish}

[containers.app]
image = "example.org/notes:1"
health = {{ http = "{health}", timeout = "3s" }}

[containers.db]
image = "example.org/postgres:17"
health = {{ cmd = "pg_isready" }}

[web]
{web}
"""


def spec(web: str, publish: str = '["127.0.0.1:8388:3000"]', health: str = "http://127.0.0.1:3000/status"):
    return parse_spec(BASE.format(web=web, publish=publish, health=health), "notes.toml")


def problems(web: str, **kw) -> list[str]:
    with pytest.raises(SpecError) as e:
        spec(web, **kw)
    return [f"{p.where}: {p.message}" for p in e.value.problems]


# -- rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("domain, why", [
    ("Notes.example.org", "lower case"), ("localhost", "not a domain name"), ("*.example.org", "no wildcard"),
    ("https://notes.example.org", "no wildcard, scheme"), ("notes.example.org:443", "port"),
    ("notes.example.org/x", "path"), ("-notes.example.org", "not a domain"), ("10.0.0.1", "IP address"),
    ("notes..example.org", "not a domain"), ("a" * 64 + ".org", "not a domain"), ("notes example.org", "not a domain"),
    ("notes.example.org\n", "not a domain"),
])
def test_bad_domains_are_refused(domain, why):
    found = problems(f'domains = ["{domain}"]\ntls = "internal"'.replace("\n\"", '\\n"'))
    assert any(why in p and p.startswith("web.domains") for p in found), found


def test_domain_rules_accept_usual_names_and_refuse_duplicates_and_none():
    s = spec('domains = ["notes.example.org", "www.notes-2.example.co.uk", "xn--bcher-kva.example"]\n'
             'email = "ops@example.org"')
    assert s.web is not None and s.web.url == "https://notes.example.org/"
    assert any("listed twice" in p for p in problems('domains = ["a.example.org", "a.example.org"]\ntls = "off"'))
    assert any("at least one domain" in p for p in problems('domains = []\ntls = "off"'))


def test_acme_needs_an_email_and_a_valid_one():
    found = problems('domains = ["notes.example.org"]')
    assert any(p.startswith("web: ") and "needs `email`" in p for p in found), found
    assert any("not an email address" in p for p in problems('domains = ["n.example.org"]\nemail = "ops at example"'))


def test_port_must_be_a_published_tcp_port():
    found = problems('domains = ["n.example.org"]\ntls = "internal"\nport = 9000')
    assert found == ["web.port: port 9000 is not a TCP host port in pod.publish (published: 8388)"]
    two = '["127.0.0.1:8388:3000", "127.0.0.1:9090:9090", "127.0.0.1:5353:53/udp"]'
    found = problems('domains = ["n.example.org"]\ntls = "internal"', publish=two)
    assert found == ["web.port: the pod publishes 2 TCP ports (8388, 9090): say which one serves the site with web.port"]
    assert spec('domains = ["n.example.org"]\ntls = "internal"\nport = 9090', publish=two).web.port == 9090
    found = problems('domains = ["n.example.org"]\ntls = "internal"', publish="[]")
    assert any("publishes no TCP port" in p for p in found), found


@pytest.mark.parametrize("web, why", [
    ('headers = { "X-A" = "{env.HOME}" }', "'{'"),
    ('headers = { "X-A" = "a\\\\b" }', "'\\\\'"),
    ('headers = { "X-A" = "a`b" }', "'`'"),
    ('headers = { "X-A" = "line\\nbreak" }', "control character"),
    ('headers = { "X-A" = " " }', "must not be empty"),
    ('headers = { "-Server" = "x" }', "not a header name"),
    ('headers = { "X-A" = "1", "x-a" = "2" }', "given twice"),
    ('max_body = "10 MB"', "not a size"),
    ('max_body = "0"', "not a size"),
    ('hsts = true\ntls = "off"', "hsts needs HTTPS"),
    ('tls = "self-signed"', "web.tls"),
    ('colour = "blue"', "unknown key"),
])
def test_bad_web_values_are_refused_located(web, why):
    tls = "" if "tls" in web else 'tls = "internal"\n'
    found = problems(f'domains = ["n.example.org"]\n{tls}{web}')
    assert any(why in p for p in found), found


def test_errors_are_located_by_line():
    with pytest.raises(SpecError) as e:
        spec('domains = ["n.example.org"]\ntls = "internal"\nmax_body = "lots"')
    assert e.value.problems[0].line == BASE.format(web="", publish="", health="").count("\n") + 2
    assert e.value.exit_code == 2


# -- the renderer ----------------------------------------------------------------------------------

CASES = {
    "internal.caddy": spec('domains = ["notes.lab.test"]\ntls = "internal"\n'
                           'headers = { X-Frame-Options = "DENY", Content-Security-Policy = "default-src \'self\'; '
                           'img-src \\"data:\\"" }\nmax_body = "10MB"'),
    "acme.caddy": spec('domains = ["notes.example.org", "www.notes.example.org"]\nemail = "ops@example.org"',
                       health="http://localhost:3000/status?full=1"),
    "off.caddy": spec('domains = ["notes.internal.example"]\ntls = "off"', publish='["0.0.0.0:8388:3000"]'),
    # the health check answers on another container port, published too; a second port needs web.port
    "health-port.caddy": spec('domains = ["notes.example.org"]\nemail = "ops@example.org"\nport = 8388\nhsts = false',
                              publish='["127.0.0.1:8388:3000", "0.0.0.0:9100:9100"]',
                              health="http://127.0.0.1:9100/healthz"),
    # a health check the proxy cannot reach (its port is published on another address): no active check
    "no-health.caddy": spec('domains = ["notes.example.org"]\nemail = "ops@example.org"\nport = 8388',
                            publish='["[::]:8388:3000", "127.0.0.1:3001:3001"]', health="http://127.0.0.1:3001/"),
}


@pytest.mark.parametrize("name", CASES)
def test_site_golden(name):
    got = render_site(CASES[name])
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got)
    assert got == path.read_text(), f"{name} differs from its golden file (ROOST_UPDATE_GOLDEN=1 rewrites it)"


def test_goldens_are_in_use():
    assert sorted(p.name for p in GOLDEN.glob("*.caddy")) == sorted(CASES)


def test_the_site_carries_the_careful_defaults():
    text = render_site(CASES["internal.caddy"])
    for line in ("\ttls internal", "\tencode zstd gzip", "\t\tStrict-Transport-Security max-age=31536000",
                 "\t\toutput stderr", "\treverse_proxy 127.0.0.1:8388 {", "\t\tlb_try_duration 10s",
                 "\t\tlb_try_interval 250ms", "\t\theader_up X-Real-IP {remote_host}", "\t\thealth_uri /status",
                 "\t\thealth_timeout 3s", '\t\tContent-Security-Policy "default-src \'self\'; img-src \\"data:\\""'):
        assert line in text.splitlines(), line
    off = render_site(CASES["off.caddy"])
    assert off.splitlines()[2] == "http://notes.internal.example {" and "Strict-Transport" not in off
    assert "reverse_proxy 127.0.0.1:8388" in off  # 0.0.0.0 is reached on loopback


def test_the_docs_show_what_the_renderer_writes():
    doc = (ROOT / "docs" / "spec.md").read_text()
    shown = doc.split("The site of the example below:\n\n```text\n", 1)[1].split("```", 1)[0]
    s = spec('domains = ["notes.example.org"]\nemail = "admin@example.org"', health="https://x.example.org/")
    assert render_site(s).split("\n", 2)[2] == shown


@pytest.mark.parametrize("value, out", [
    ("plain", "plain"), ("max-age=31536000", "max-age=31536000"), ("two words", '"two words"'),
    ('say "hi"', '"say \\"hi\\""'), ("a;b", '"a;b"'), ("#hash", '"#hash"'),
])
def test_word_writes_a_token_that_means_itself(value, out):
    assert word(value) == out


@pytest.mark.parametrize("value", ["", "{$HOME}", "a}", "back\\slash", "`x`", "new\nline", "nul\x00"])
def test_word_refuses_what_a_caddyfile_would_not_keep(value):
    with pytest.raises(ValueError):
        word(value)


# -- the main Caddyfile --------------------------------------------------------------------------

def test_import_line_is_appended_once_keeping_the_users_content():
    out = with_import(DEBIAN_CADDYFILE)
    assert out.startswith(DEBIAN_CADDYFILE) and out.endswith(IMPORT_LINE + "\n")
    assert with_import(out) == out and has_import(out)
    assert with_import(None) == f"# roost: one site file per app (roost apply writes them, roost down removes them)\n{IMPORT_LINE}\n"
    glob = "{\n\temail ops@example.org\n}\nexample.org {\n\trespond hi\n}"  # no final newline, global options
    out = with_import(glob)
    assert out.startswith(glob + "\n\n#") and out.count(IMPORT_LINE) == 1
    assert not has_import(f"# {IMPORT_LINE}\n")  # a commented-out line is not an import


# -- plan and apply ------------------------------------------------------------------------------

def write_spec(tmp_path: Path, web: str = 'domains = ["notes.lab.test"]\ntls = "internal"', name: str = "notes",
               port: int = 8388) -> Path:
    text = (BASE.format(web=web, publish=f'["127.0.0.1:{port}:3000"]', health="http://127.0.0.1:3000/status")
            .replace('name = "notes"', f'name = "{name}"'))
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def caddy_host(installed: bool = True, active: bool = True, caddyfile: str | None = DEBIAN_CADDYFILE):
    host = bare_host()
    if installed:
        host.stats["/usr/bin/caddy"] = FileStat(0o755, 0, 0, False)
        host.dirs["/etc/caddy/roost.d"] = FileStat(0o755, 0, 0, True)
        state = "active" if active else "inactive"
        host.on("systemctl", "show", "-p", "ActiveState,UnitFileState", "caddy.service",
                answer=f"ActiveState={state}\nUnitFileState={'enabled' if active else 'disabled'}\n")
    if caddyfile is not None:
        host.files["/etc/caddy/Caddyfile"] = caddyfile
    host.on("id", "-u", "caddy", answer="998\n")
    for path, text in unit_texts(roost_command()[0]).items() if installed else ():  # the watcher installed, running
        host.files[path] = text
    host.on("systemctl", "is-active", "--quiet", "roost-door.service", answer="")
    listening(host, 8388, 2000)
    return host


TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def listening(host, port: int, uid: int, address: str = "0100007F") -> None:
    """A socket of `uid` listening on address:port in the fake /proc/net/tcp."""
    row = f"   0: {address}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  {uid}        0 1 1\n"
    host.files["/proc/net/tcp"] = host.files.get("/proc/net/tcp", TCP_HEADER) + row


def front_actions(plan):
    return [a for a in plan.actions if isinstance(a, (PublishSite, RemoveSite, StartCaddy, A.InstallPackages))
            or (isinstance(a, A.MakeDir) and a.want.path == "/etc/caddy/roost.d")]


def test_fresh_host_installs_caddy_then_publishes_after_the_app(tmp_path):
    prep = prepare(write_spec(tmp_path), caddy_host(installed=False, caddyfile=None))
    kinds = [type(a).__name__ for a in prep.plan.actions]
    assert kinds[-4:] == ["InstallPackages", "MakeDir", "PublishSite", "InstallDoorWatch"]
    assert kinds.index("StartUnits") < kinds.index("PublishSite")
    install = prep.plan.actions[-4]
    assert isinstance(install, A.InstallPackages) and install.packages == ("caddy",)
    publish = prep.plan.actions[-2]
    assert "caddy validate" in publish.describe() and "import line" in publish.describe()
    diff = publish.detail()
    assert "+++ b/etc/caddy/roost.d/notes.caddy" in diff and "+notes.lab.test {" in diff and f"+{IMPORT_LINE}" in diff


def test_converged_site_plans_nothing_and_a_change_shows_its_diff(tmp_path):
    host = caddy_host()
    prep = prepare(write_spec(tmp_path), host)
    converge(host, prep)
    host.files[SITE] = render_site(prep.spec)
    host.files["/etc/caddy/Caddyfile"] = with_import(DEBIAN_CADDYFILE)
    assert prepare(write_spec(tmp_path), host).plan.empty
    changed = prepare(write_spec(tmp_path, 'domains = ["notes.lab.test"]\ntls = "internal"\nmax_body = "1MB"'), host)
    (publish,) = front_actions(changed.plan)
    assert isinstance(publish, PublishSite) and "import line" not in publish.describe()
    assert "+\trequest_body {" in publish.detail() and "/etc/caddy/Caddyfile" not in publish.detail()
    host.on("systemctl", "show", "-p", "ActiveState,UnitFileState", "caddy.service",
            answer="ActiveState=failed\nUnitFileState=enabled\n")
    (start,) = front_actions(prepare(write_spec(tmp_path), host).plan)
    assert isinstance(start, StartCaddy)


def test_a_spec_without_web_removes_its_leftover_site(tmp_path):
    host = caddy_host()
    path = write_spec(tmp_path)
    path.write_text(path.read_text().split("[web]")[0])
    host.files[SITE] = "old site\n"
    (remove,) = front_actions(prepare(path, host).plan)
    assert isinstance(remove, RemoveSite) and SITE in remove.describe()
    host.on("systemctl", "is-active", answer="")
    remove.execute(type("Ctx", (), {"host": host})())
    assert SITE not in host.files and ("systemctl", "reload", "caddy.service") in host.calls


def test_no_package_manager_and_no_caddy_is_a_usage_error(tmp_path):
    host = caddy_host(installed=False)
    host.stats.pop("/usr/bin/apt-get")
    with pytest.raises(UsageError, match="needs Caddy"):
        prepare(write_spec(tmp_path), host)


def test_a_domain_served_by_another_app_is_refused_at_plan_time(tmp_path):
    host = caddy_host()
    other = prepare(write_spec(tmp_path, name="first", port=8390), host)
    converge(host, other)
    with pytest.raises(UsageError) as e:
        prepare(write_spec(tmp_path, 'domains = ["www.lab.test", "notes.lab.test"]\ntls = "internal"'), host)
    assert e.value.exit_code == 2 and "notes.lab.test is already served by roost app first" in e.value.message
    # another domain is fine; the record keeps what status and the next plan need
    prepare(write_spec(tmp_path, 'domains = ["two.lab.test"]\ntls = "internal"'), host)
    import json

    record = json.loads(host.files["/var/lib/roost/apps/first/record.json"])
    assert (record["domains"], record["url"], record["tls"]) == (["notes.lab.test"], "https://notes.lab.test/", "internal")


class Ctx:
    def __init__(self, host) -> None:
        self.host = host
        self.layout = type("L", (), {"name": "notes"})()
        self.identity = Identity(2000, 2000, 200_000_000)
        self.ui = None


def publish_for(tmp_path, host) -> PublishSite:
    (publish,) = [a for a in front_actions(prepare(write_spec(tmp_path), host).plan) if isinstance(a, PublishSite)]
    return publish


def test_publish_validates_as_caddy_before_a_graceful_reload(tmp_path):
    host = caddy_host()
    publish = publish_for(tmp_path, host)
    host.on("runuser", answer="Valid configuration\n")
    host.on("systemctl", answer="")
    publish.execute(Ctx(host))
    validate = ("runuser", "-u", "caddy", "--", "caddy", "validate", "--config", "/etc/caddy/Caddyfile",
                "--adapter", "caddyfile")
    assert host.calls.index(validate) < host.calls.index(("systemctl", "reload-or-restart", "caddy.service"))
    assert host.files[SITE] == render_site(publish_site_spec(tmp_path))
    assert host.files["/etc/caddy/Caddyfile"] == with_import(DEBIAN_CADDYFILE)


def publish_site_spec(tmp_path):
    from roost.spec.load import load_spec

    return load_spec(write_spec(tmp_path))


def test_a_rejected_site_is_put_back_and_reported_with_caddys_message(tmp_path):
    host = caddy_host()
    host.files[SITE] = "the running site\n"
    publish = publish_for(tmp_path, host)
    stderr = ('{"level":"info","msg":"using provided configuration"}\n'
              "Error: adapting config using caddyfile: ambiguous site definition: notes.lab.test\n")
    host.on("runuser", answer=lambda argv, user, stdin: Result(tuple(argv), 1, "", stderr))
    with pytest.raises(RoostError) as e:
        publish.execute(Ctx(host))
    assert "ambiguous site definition: notes.lab.test" in e.value.message and e.value.exit_code == 1
    assert "nothing changed for Caddy" in e.value.message
    assert host.files[SITE] == "the running site\n" and host.files["/etc/caddy/Caddyfile"] == DEBIAN_CADDYFILE
    assert not any(c[:2] == ("systemctl", "reload-or-restart") for c in host.calls)


def test_a_new_site_rejected_is_removed_and_a_failed_reload_restores_too(tmp_path):
    host = caddy_host(caddyfile=with_import(DEBIAN_CADDYFILE))
    publish = publish_for(tmp_path, host)
    host.on("runuser", answer="")
    host.on("systemctl", "reload-or-restart", answer=lambda argv, u, s: Result(tuple(argv), 1, "", "bind: in use"))
    with pytest.raises(RoostError, match="did not take the new configuration: bind: in use"):
        publish.execute(Ctx(host))
    assert SITE not in host.files


def test_caddy_message_prefers_its_error_line():
    assert caddy_message("noise\nError: loading: bad\n") == "Error: loading: bad"
    assert caddy_message("a\nb\n") == "a\nb"
    assert caddy_message("") == "caddy validate failed without a message"


# -- certificates, doctor, lab hints ---------------------------------------------------------------

PEM = (GOLDEN / "notes.lab.test.crt").read_text()


def test_certificate_validity_is_read_from_the_pem():
    before, after = certs.validity(PEM)
    assert (before, after) == (datetime(2026, 11, 30, 4, 16, 20, tzinfo=UTC),
                               datetime(2026, 12, 30, 4, 16, 20, tzinfo=UTC))
    with pytest.raises(ValueError):
        certs.validity("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError):
        certs.validity("not a cert")


def web_host():
    host = caddy_host()
    host.files[f"{certs.CERTS_DIR}/local/notes.lab.test/notes.lab.test.crt"] = PEM
    host.files[SITE] = "notes.lab.test {\n\ttls internal\n}\n"
    host.on("systemctl", "is-active", answer="")
    host.on("ss", answer='LISTEN 0 4096 *:443 *:* users:(("caddy",pid=10,fd=7))\n'
                         'LISTEN 0 4096 *:80 *:* users:(("caddy",pid=10,fd=8))\n')
    return host


RECORD = {"notes": app_record("notes", domains=["notes.lab.test"], url="https://notes.lab.test/", tls="internal",
                              spec_path="/x/notes.toml")}


def checks(host, now) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in check_frontdoor(host, RECORD, now)}


def test_doctor_checks_caddy_ports_sites_and_expiry():
    host = web_host()
    good = checks(host, datetime(2026, 12, 1, tzinfo=UTC))
    assert good["caddy"][0] == good["ports 80/443"][0] == good["site notes"][0] == "ok"
    assert good["certificate notes.lab.test"] == ("ok", "valid until 2026-12-30 04:16 UTC (internal CA)")
    assert checks(host, datetime(2026, 12, 28, tzinfo=UTC))["certificate notes.lab.test"][0] == "warn"
    assert checks(host, datetime(2027, 1, 1, tzinfo=UTC))["certificate notes.lab.test"][0] == "fail"
    host.on("ss", answer='LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=5,fd=6))\n')
    host.on("systemctl", "is-active", answer=lambda argv, u, s: Result(tuple(argv), 3, "", ""))
    bad = checks(host, datetime(2026, 12, 1, tzinfo=UTC))
    assert bad["ports 80/443"] == ("fail", "held by another program: 80 (nginx)") and bad["caddy"][0] == "fail"
    host.files.pop(SITE)
    assert checks(host, datetime(2026, 12, 1, tzinfo=UTC))["site notes"][0] == "fail"
    acme = {"notes": replace(RECORD["notes"], tls="acme")}
    host.files[SITE] = "notes.lab.test {\n\ttls internal\n}\n"
    assert {c.name: c.status for c in check_frontdoor(host, acme)}["site notes"] == "fail"
    assert check_frontdoor(host, {"plain": app_record("plain")}) == []


def test_listeners_on_80_and_443_are_named():
    text = ('LISTEN 0 4096 *:443 *:* users:(("caddy",pid=1,fd=3))\nLISTEN 0 4096 127.0.0.1:8080 *:*\n'
            'LISTEN 0 4096 [::]:80 [::]:* users:(("apache2",pid=2,fd=4),("apache2",pid=3,fd=4))\n')
    assert listeners_80_443(text) == {443: {"caddy"}, 80: {"apache2"}}


def test_status_shows_the_certificate_state():
    host = web_host()
    assert certs.state(host, "notes.lab.test", datetime(2026, 12, 1, tzinfo=UTC)).startswith("valid until")
    assert certs.state(host, "other.lab.test") == "no certificate yet"


def test_lab_try_prints_the_url_and_how_to_trust_the_lab_ca():
    import tomllib

    data = tomllib.loads((ROOT / "examples" / "lab-notes-https.toml").read_text())
    lines = web_hints(data, "/var/lib/roost/lab/machines/roost-lab/rootfs/")
    root = "/var/lib/roost/lab/machines/roost-lab/rootfs/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
    assert lines[0] == "https://notes.lab.test/"
    assert f"curl --resolve notes.lab.test:443:127.0.0.1 --cacert {root} https://notes.lab.test/" in "\n".join(lines)
    assert web_hints({"pod": {}}, "/x") == []
