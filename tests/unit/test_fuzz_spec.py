"""Fuzzing every string field of the spec with hostile text (Hypothesis).

For each generated value, embedded verbatim in an otherwise minimal valid spec, EITHER the spec is
refused with a SpecError whose every problem names the field's key path and the line it is written
on, OR it loads, renders, and the rendered files -- read back by an independent parser of what
systemd, Quadlet and podman read (tests/unit/unitparse.py) -- mean exactly the input.
Rendering refusing (UnsafeValue/ValueError) a loaded spec is a failure: the spec layer must refuse
such values first, with a located message.

A summary line per family is printed at the end of the run.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.errors import SpecError
from roost.render.desired import ROOST_CMD, Desired, Identity, render
from roost.spec.load import parse_spec
from tests.unit import unitparse as up

SRC = Path(__file__).resolve().parents[2] / "src"
IDENTITY = Identity(2000, 2000, 200_000_000)
FUZZ = settings(max_examples=int(os.environ.get("ROOST_FUZZ_EXAMPLES", "1000")), derandomize=True, deadline=None,
                database=None, suppress_health_check=[HealthCheck.too_slow])

# -- counting ---------------------------------------------------------------------------------

FAMILIES = ("names", "paths/volumes", "env", "commands/health", "images", "publish", "schedule")
COUNTS: dict[str, collections.Counter] = {f: collections.Counter() for f in FAMILIES}


class _Summary:
    def pytest_terminal_summary(self, terminalreporter) -> None:
        for family in FAMILIES:
            c = COUNTS[family]
            if c["tried"]:
                terminalreporter.write_line(
                    f"fuzz {family}: {c['tried']} cases tried, {c['passed']} passed "
                    f"({c['refused']} refused with a located error, {c['accepted']} accepted and round-tripped)")


@pytest.fixture(scope="session", autouse=True)
def _fuzz_summary(request):
    summary = _Summary()
    request.config.pluginmanager.register(summary, "roost-fuzz-summary")
    yield


# -- TOML ---------------------------------------------------------------------------------------

def q(value: str) -> str:
    """A TOML basic string (also a quoted key) that reads back as exactly `value`."""
    out = []
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# -- hostile text -----------------------------------------------------------------------------

LONG = "x" * 10_000
HOSTILE = [
    "\n", "\r", "\r\n", "\x00", "\x01", "\x1b[31m", "\x7f", "\x85", "\u2028", "\t", "\v", "\f",
    "%", "%h", "%n", "%%", "%i", "%%h", "'", '"', "$", "$HOME", "${HOME}", "${secrets.db}", "${secrets.nope}",
    "`id`", "$(id)", ";", "&&", "|", "&", "<", ">", "(", ")", "*", "?", "#", "!", "~", "=", ":", ",", "@",
    "\\", "\\n", "\\x41", " ", "  ", "..", ".", "/", "//", "../", "/..", "/etc/passwd", "/proc/self/root",
    "/srv/roost/demo/link/..", "root", "daemon", "nobody", "www-data", "postgres",
    "\u202e", "\u200f", "\u200b", "\ufeff", "😀", "👩\u200d💻", "e\u0301", "ß", "İ", "Ⅻ", "٣", "１", "\u3000",
    "-", "_", "[", "]", "{", "}", "0", "9", "A", "z",
]
piece = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=3))
hostile_text = st.lists(st.one_of(piece, st.sampled_from(["a", "web", "data", "x1"])), max_size=8).map("".join)


def near(*valid: str) -> st.SearchStrategy[str]:
    """Valid values, and those with hostile text inserted, prepended, appended or made very long."""
    base = st.sampled_from(valid)
    at = st.integers(min_value=0, max_value=1000)

    def insert(v: str, p: str, i: int) -> str:
        i %= len(v) + 1
        return v[:i] + p + v[i:]

    def replace(v: str, p: str, i: int) -> str:
        i %= max(len(v), 1)
        return v[:i] + p + v[i + 1:]

    return st.one_of(
        base,
        st.builds(insert, base, piece, at),
        st.builds(replace, base, piece, at),
        st.builds(lambda v, p: p + v, base, piece),
        st.builds(lambda v, p: v + p, base, piece),
        st.builds(lambda v, n: v + "a" * n, base, st.sampled_from([4096 - 20, 4097, 10_000])),
        st.just(LONG),
        hostile_text,
    )


# -- what the files mean ------------------------------------------------------------------------

HOME = "/srv/roost/demo"
UNITS = f"{HOME}/.config/containers/systemd"


@dataclass
class Rendered:
    desired: Desired
    files: dict[str, str]

    def unit(self, path: str) -> up.Unit:
        return up.parse_unit(self.files[path])

    def container(self, name: str = "web", home: str = HOME) -> up.Unit:
        return self.unit(f"{home}/.config/containers/systemd/{name}.container")

    def env(self, name: str = "web", home: str = HOME) -> dict[str, str]:
        return up.parse_env_file(self.files[f"{home}/env/{name}.env"])


def check_every_unit_reads_back(r: Rendered) -> None:
    """Whatever the field, every rendered unit parses, and word-list keys split cleanly."""
    for path, content in r.files.items():
        if path.endswith((".container", ".pod", ".service", ".timer", ".conf")):
            unit = up.parse_unit(content)
            for _section, entries in unit.items():
                for key, value in entries:
                    if key in ("Exec", "Label", "PodmanArgs", "ExecStart", "ExecStartPre"):
                        up.split_words(value)
                    else:
                        up.unspecify(value)
        elif path.endswith(".env"):
            up.parse_env_file(content)


# durations, as podman (Go's time.ParseDuration) and systemd read the rendered "<decimal>s"
GO_MAX_SECONDS = Fraction(2**63 - 1, 10**9)


def spec_seconds(value: str) -> Fraction | None:
    """What a spec duration means, per docs/spec.md: a whole number (ASCII digits) and a unit."""
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)", value)
    if not m:
        return None
    return int(m[1]) * {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}[m[2]]


def rendered_seconds(value: str) -> Fraction:
    m = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?s", value)
    assert m, f"{value!r} is not a duration podman or systemd can read"
    return Fraction(int(m[1])) + (Fraction(int(m[2]), 10 ** len(m[2])) if m[2] else 0)


def publish_meaning(value: str) -> tuple[str, int, int, str] | None:
    """[IP:]HOST:CTR[/proto], ASCII digits, an IP podman can read; IP defaults to 127.0.0.1."""
    m = re.fullmatch(r"(?:(\[[^\]]*\]|[^:\[\]]+):)?([0-9]{1,5}):([0-9]{1,5})(?:/(tcp|udp))?", value)
    if not m:
        return None
    ip = m[1] or "127.0.0.1"
    try:
        addr = ipaddress.ip_address(ip[1:-1] if ip.startswith("[") else ip)
    except ValueError:
        return None
    if (addr.version == 6) != ip.startswith("["):
        return None
    host, ctr = int(m[2]), int(m[3])
    if not (1 <= host <= 65535 and 1 <= ctr <= 65535):
        return None
    return ip, host, ctr, m[4] or "tcp"


# -- the table: field -> where it goes in a minimal spec, and what it must mean -------------------

BASE = '[app]\nname = "demo"\n\n[containers.web]\nimage = "example.org/web:1"\n'
# lines: 2 app.name, 4 [containers.web], 5 image; appended lines start on line 6


def with_app(extra: str, rest: str = "") -> str:
    """BASE with one line added to [app] (line 3; BASE's lines move down by one), then `rest`."""
    return BASE.replace('name = "demo"\n', 'name = "demo"\n' + extra + "\n", 1) + rest


@dataclass(frozen=True)
class Field:
    family: str
    strategy: st.SearchStrategy[str]
    embed: Callable[[str], str]  # value -> spec text
    where: Callable[[str], dict[str, int | None]]  # value -> {key path a refusal may name: the line it is on}
    means: Callable[[str, Rendered], None]  # asserts the rendered files mean the value


def at(where: dict[str, int | None]) -> Callable[[str], dict[str, int | None]]:
    return lambda v: where


def _app_name(v: str, r: Rendered) -> None:
    home = f"/srv/roost/{v}"
    assert posixpath.normpath(home) == home and home.count("/") == 3, home
    pod = r.unit(f"{home}/.config/containers/systemd/{v}.pod")
    assert up.raw_value(pod, "Pod", "PodName") == v
    assert up.raw_value(pod, "Unit", "Description") == f"roost app {v} (pod)"
    ctr = r.container(home=home)
    assert up.raw_value(ctr, "Container", "ContainerName") == f"{v}-web"
    assert up.raw_value(ctr, "Container", "Pod") == f"{v}.pod"
    assert up.word_value(ctr, "Container", "Label") == [f"io.roost.app={v}", "io.roost.container=web"]


def _container_name(v: str, r: Rendered) -> None:
    path = f"{UNITS}/{v}.container"
    assert posixpath.dirname(path) == UNITS and path in r.files
    ctr = r.unit(path)
    assert up.raw_value(ctr, "Container", "ContainerName") == f"demo-{v}"
    assert up.word_value(ctr, "Container", "Label") == ["io.roost.app=demo", f"io.roost.container={v}"]


def _secret_name(v: str, r: Rendered) -> None:
    assert up.raw_value(r.container(), "Container", "Secret") == "roost-web-S,type=env,target=S"
    [want] = r.desired.secret_envs
    assert want.resolve({v: "pw"}) == "pw"
    assert f"{HOME}/env/web.env" not in r.files


def _home(v: str, r: Rendered) -> None:
    # docs/spec.md: a normalised absolute path: no `..`, no `.`, no `//`, no trailing `/`, not `/`
    assert v.startswith("/") and posixpath.normpath(v) == v and not v.startswith("//") and v != "/"
    ctr = r.container(home=v)
    assert up.raw_value(ctr, "Container", "EnvironmentFile") == f"{v}/env/web.env"
    assert up.raw_value(ctr, "Container", "Volume") == f"{v}/data:/data"
    assert r.env(home=v) == {"A": "1"}


def _allowed(v: str, r: Rendered) -> None:
    assert up.raw_value(r.container(), "Container", "Volume") == f"{v}/data:/data"


def _volume(v: str, r: Rendered) -> None:
    source, target, *options = v.split(":")
    assert len(options) <= 1 and target.startswith("/") and posixpath.normpath(target) == target
    host = source if source.startswith("/") else posixpath.normpath(posixpath.join(HOME, source))
    assert host == HOME or host.startswith(HOME + "/"), f"{host} is outside the home"
    want = f"{host}:{target}" + (f":{options[0]}" if options else "")
    assert up.raw_value(r.container(), "Container", "Volume") == want


def _env_file(v: str, r: Rendered) -> None:
    folder = "/specs/app"
    resolved = posixpath.normpath(posixpath.join(folder, v))
    assert resolved.startswith(folder + "/"), f"env_file {v!r} resolves to {resolved}, not a file inside the spec's folder"


def _env_key(v: str, r: Rendered) -> None:
    assert r.env() == {v: "x"}


def _env_value(v: str, r: Rendered) -> None:
    ctr = r.container()
    if re.search(r"\$\{secrets\.[^}]*\}", v):
        assert up.raw_value(ctr, "Container", "Secret") == "roost-web-V,type=env,target=V"
        assert [w.template for w in r.desired.secret_envs] == [v]
        assert f"{HOME}/env/web.env" not in r.files
    else:
        assert up.raw_value(ctr, "Container", "EnvironmentFile") == f"{HOME}/env/web.env"
        assert r.env() == {"V": v}


def _command(v: str, r: Rendered) -> None:
    assert up.word_value(r.container(), "Container", "Exec") == ["serve", v, "--end"]


def _health_cmd(v: str, r: Rendered) -> None:
    ctr = r.container()
    assert up.lookup(ctr, "Container", "HealthCmd") == v != "", "Quadlet ignores an empty HealthCmd="
    assert up.lookup(ctr, "Container", "HealthStartupCmd") == v


def _health_http(v: str, r: Rendered) -> None:
    cmd = up.lookup(r.container(), "Container", "HealthCmd")
    assert re.match(r"https?://", v)
    # podman runs it with /bin/sh -c: the URL must reach curl as one argument, untouched
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # sh starts a comment only at the start of a word, never inside the URL
    assert list(lexer) == ["curl", "-fsS", "-o", "/dev/null", "--max-time", "5", v]


def _duration(key: str) -> Callable[[str, Rendered], None]:
    def means(v: str, r: Rendered) -> None:
        want = spec_seconds(v)
        assert want is not None, f"{v!r} is not a duration like 500ms, 10s, 2m or 1h"
        got = rendered_seconds(up.raw_value(r.container(), "Container", key))
        assert got == want and got <= GO_MAX_SECONDS
    return means


def _health_timeout(v: str, r: Rendered) -> None:
    want = spec_seconds(v)
    assert want is not None and want >= 5, v
    ctr = r.container()
    assert int(up.raw_value(ctr, "Service", "TimeoutStartSec")) == int(want)  # whole seconds, rounded down
    assert int(up.raw_value(ctr, "Container", "HealthStartupRetries")) == int(want)


def _image(v: str, r: Rendered) -> None:
    assert up.lookup(r.container(), "Container", "Image") == v


def _publish(v: str, r: Rendered) -> None:
    want = publish_meaning(v)
    assert want is not None, f"{v!r} was accepted but is not a port mapping podman can read"
    got = publish_meaning(up.raw_value(r.unit(f"{UNITS}/demo.pod"), "Pod", "PublishPort"))
    assert got == want


def _schedule(v: str, r: Rendered) -> None:
    user = f"{HOME}/.config/systemd/user"
    timer = r.unit(f"{user}/roost-backup.timer")
    assert up.raw_value(timer, "Timer", "OnCalendar") == v
    assert up.raw_value(timer, "Unit", "Description") == f"roost: back up app demo ({v})"
    service = r.unit(f"{user}/roost-backup.service")
    assert up.word_value(service, "Service", "ExecStart") == [*ROOST_CMD, "backup", "demo", "--reason", "scheduled"]


DURATIONS = near("10s", "500ms", "2m", "1h", "0s", "5s", "1000001s", "1234567ms", "9" * 400 + "ms", "99999999999h")
HEALTH = "\n[containers.web.health]\ncmd = \"true\"\n"  # lines 7-8; a key added after it is on line 9

FIELDS: dict[str, Field] = {
    # names
    "app.name": Field("names", near("demo", "a", "a" * 31, "my-app2", "root", "nobody", "daemon"),
                      lambda v: BASE.replace('"demo"', q(v), 1), at({"app.name": 2}), _app_name),
    "container name": Field("names", near("web", "db", "a-b", "root"),
                            lambda v: BASE.replace("containers.web", f"containers.{q(v)}"),
                            lambda v: {f"containers.{v}": 4}, _container_name),
    "secret name": Field("names", near("db", "db_password", "a" * 63),
                         lambda v: BASE + f"env = {{ S = {q('${secrets.' + v + '}')} }}\n\n[secrets.{q(v)}]\ngenerate = 32\n",
                         # S mentions the name, so a name too long is refused there too
                         lambda v: {f"secrets.{v}": 8, "containers.web.env.S": 6}, _secret_name),
    # paths/volumes
    "app.home": Field("paths/volumes", near("/srv/hedgedoc", "/srv/a b", "/home/x", "/opt/app%h"),
                      lambda v: with_app(f"home = {q(v)}", 'env = { A = "1" }\nvolumes = ["data:/data"]\n'),
                      at({"app.home": 3}), _home),
    "app.allow_host_paths": Field("paths/volumes", near("/var/lib/x", "/mnt/data dir", "/srv/%n"),
                                  lambda v: with_app(f"allow_host_paths = [{q(v)}]", f"volumes = [{q(v + '/data:/data')}]\n"),
                                  at({"app.allow_host_paths": 3, "containers.web.volumes": 7}), _allowed),
    "volumes": Field("paths/volumes", near("data:/var/lib/data:Z", "a/b:/c", "./d:/d:z,ro", "/srv/roost/demo/x:/x",
                                           "up loads:/srv/up loads:ro"),
                     lambda v: BASE + f"volumes = [{q(v)}]\n", at({"containers.web.volumes": 6}), _volume),
    "env_file": Field("paths/volumes", near("app.env", "conf/app.env", "a b.env"),
                      lambda v: BASE + f"env_file = {q(v)}\n", at({"containers.web.env_file": 6}), _env_file),
    # env
    "env key": Field("env", near("A", "PATH", "_x1", "LD_PRELOAD"),
                     lambda v: BASE + f"\n[containers.web.env]\n{q(v)} = \"x\"\n", at({"containers.web.env": 7}),
                     _env_key),
    "env value": Field("env", near("plain", "", "x y", "postgres://u:${secrets.db}@h/db", "50%", 'say "hi"'),
                       lambda v: BASE + f"\n[containers.web.env]\nV = {q(v)}\n\n[secrets]\ndb = {{ generate = 32 }}\n",
                       at({"containers.web.env.V": 8}), _env_value),
    # commands/health
    "command item": Field("commands/health", near("--flag=1", "two words", "", "sh -c 'echo hi'"),
                          lambda v: BASE + f"command = [\"serve\", {q(v)}, \"--end\"]\n",
                          at({"containers.web.command.1": 6, "containers.web.command": 6}), _command),
    "health.cmd": Field("commands/health", near("pg_isready -U postgres", "test -f /x && echo 5%", "true", ""),
                        lambda v: BASE + f"\n[containers.web.health]\ncmd = {q(v)}\n",
                        at({"containers.web.health.cmd": 8, "containers.web.health": 7}), _health_cmd),
    "health.http": Field("commands/health", near("http://localhost:3000/status", "https://x.example/a?b=1#c"),
                         lambda v: BASE + f"\n[containers.web.health]\nhttp = {q(v)}\n",
                         at({"containers.web.health.http": 8, "containers.web.health": 7}), _health_http),
    **{f"health.{k}": Field("commands/health", DURATIONS, lambda v, k=k: BASE + HEALTH + f"{k} = {q(v)}\n",
                            at({f"containers.web.health.{k}": 9}), _duration(key))
       for k, key in (("interval", "HealthInterval"), ("timeout", "HealthTimeout"), ("start_period", "HealthStartPeriod"))},
    "app.health_timeout": Field("commands/health", DURATIONS, lambda v: with_app(f"health_timeout = {q(v)}", HEALTH),
                                at({"app.health_timeout": 3}), _health_timeout),
    # images
    "image": Field("images", near("example.org/web:1", "docker.io/library/postgres:16", "busybox",
                                  "localhost:5000/a/b@sha256:" + "a" * 64),
                   lambda v: BASE.replace(q("example.org/web:1"), q(v)), at({"containers.web.image": 5}), _image),
    # publish
    "pod.publish": Field("publish", near("127.0.0.1:8080:80", "8080:80", "0.0.0.0:53:53/udp", "[::1]:443:8443") | st.builds(
                             lambda ip, host, ctr, proto: f"{ip}{host}:{ctr}{proto}",
                             st.sampled_from(["", "127.0.0.1:", "0.0.0.0:", "[::1]:", "[fe80::1]:", "255.255.255.255:",
                                              "256.0.0.1:", "01.2.3.4:", "[::g]:", "[1]:", "localhost:"]),
                             st.integers(0, 70000), st.integers(0, 70000), st.sampled_from(["", "/tcp", "/udp", "/sctp"])),
                         lambda v: BASE + f"\n[pod]\npublish = [{q(v)}]\n", at({"pod.publish": 8}), _publish),
    # schedule
    "backup.schedule": Field("schedule", near("daily", "*-*-* 03:00", "Mon..Fri 22:00", "weekly"),
                             lambda v: BASE + f"\n[backup]\nschedule = {q(v)}\n", at({"backup.schedule": 8}),
                             _schedule),
}


# -- the property --------------------------------------------------------------------------------

def check(field: Field, value: str) -> str:
    """Refused with located problems, or accepted and rendered to files that mean `value`."""
    text = field.embed(value)
    try:
        spec = parse_spec(text, "s.toml")
    except SpecError as e:
        where = field.where(value)
        assert e.problems, e.message
        for p in e.problems:
            assert p.where in where, f"problem located at {p.where[:80]!r}, expected one of {sorted(where)}:\n{e.message[:800]}"
            assert p.line == where[p.where], f"{p.where[:80]} reported on line {p.line}, not {where[p.where]}:\n{e.message[:800]}"
        return "refused"
    try:
        desired = render(spec, IDENTITY)
    except ValueError as e:  # UnsafeValue included
        pytest.fail(f"the spec loaded but rendering refused it (the spec layer must refuse it first): {e!r}")
    rendered = Rendered(desired, {f.path: f.content for f in desired.files})
    check_every_unit_reads_back(rendered)
    field.means(value, rendered)
    return "accepted"


def run(family: str, field: Field, value: str) -> None:
    counts = COUNTS[family]
    counts["tried"] += 1
    outcome = check(field, value)
    counts["passed"] += 1
    counts[outcome] += 1


@pytest.mark.parametrize("name", FIELDS)
@FUZZ
@given(data=st.data())
def test_field_is_refused_with_its_location_or_means_exactly_itself(name, data):
    field = FIELDS[name]
    run(field.family, field, data.draw(field.strategy, label=name))


@FUZZ
@given(value=st.text() | hostile_text | near("a"))
def test_toml_quoting_reaches_the_model_verbatim(value):
    """The property above relies on this: what the TOML says is exactly the generated value."""
    assert tomllib.loads(f"k = {q(value)}\n{q(value)} = 1\n") == {"k": value, value: 1}


# bugs this suite found, kept as plain examples (each failed before its fix)
REGRESSIONS = [
    ("app.name", "demo\n"),  # `$` in a pattern matches before a trailing newline: loaded, then rendering refused it
    ("container name", "web\n"),
    ("image", "example.org/web:1\n"),
    ("env key", "A\n"),  # rendered an env file line "A" (podman copies A from its own environment) and "=x"
    ("pod.publish", "127.0.0.1:8080:80\n"),
    ("pod.publish", "127.0.0.01:8080:80"),  # Go's net.ParseIP refuses leading zeros
    ("pod.publish", "[1]:8080:80"),  # not an IPv6 address
    ("pod.publish", "\u0661\u0662\u0667.0.0.1:8080:80"),  # Arabic-Indic digits matched \d
    ("backup.schedule", "daily\n"),
    ("backup.schedule", " daily"),  # loaded, then rendering refused the leading space
    ("health.cmd", " true"),
    ("health.cmd", "true \\"),  # a trailing backslash continues the unit line
    ("health.cmd", ""),  # Quadlet ignores an empty HealthCmd=, yet Notify=healthy waits for a check
    ("health.cmd", '"/bin/check" --quiet "x"'),  # Quadlet's Lookup() strips the outer quotes
    ("volumes", "data:/x "),
    ("volumes", "a/b:/c\x85"),  # NEL: white space to Quadlet's TrimSpace
    ("command item", ""),  # Quadlet's Exec= splitter stops at an empty word
    ("env_file", ""),  # the spec's folder itself
    ("health.interval", "9" * 400 + "ms"),  # OverflowError escaped the spec layer: a traceback
    ("health.start_period", "1000001s"),  # rendered 1e+06s
    ("health.timeout", "1234567ms"),  # rendered 1234.57s
    ("health.http", "http://localhost/(x)"),  # a parenthesis is a syntax error for /bin/sh -c
    ("app.home", "/srv/hedgedoc/"),  # a trailing slash was accepted
    ("app.home", "//srv/hedgedoc"),  # normpath() keeps a leading //
    ("container name", 'w"b'),  # a quoted key with an escape: no line number
    ("secret name", "db\u2028x"),  # U+2028 inside a value counted as a line break: wrong line numbers after it
]


@pytest.mark.parametrize("name, value", REGRESSIONS, ids=[f"{n}:{v[:20]!r}" for n, v in REGRESSIONS])
def test_found_by_fuzzing(name, value):
    field = FIELDS[name]
    run(field.family, field, value)


# -- the independent reader is itself right -------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ('a "b c" d', ["a", "b c", "d"]),
    ("'it''s'", ["its"]),
    ('"say \\"hi\\"" 100%%', ['say "hi"', "100%"]),
    ('a\\x41 "tab\\there"', ["aA", "tab\there"]),
    ('a "" b', ["a"]),  # Quadlet stops at an empty word
])
def test_split_words(value, words):
    assert up.split_words(value) == words


@pytest.mark.parametrize("value", ['"open', "trailing\\", "%h", "50%", "a\\q"])
def test_split_words_refuses(value):
    with pytest.raises(up.UnitSyntaxError):
        up.split_words(value)


def test_parse_unit_and_env():
    unit = up.parse_unit("# c\n[A]\nK = v w \nK=x\n\n[B]\n; c\nL=\n")
    assert unit == {"A": [("K", "v w"), ("K", "x")], "B": [("L", "")]}
    for bad in ("[A]\nK=a\\\nb\n", "[A]\nK=a\rb\n", "K=v\n", "[A]\nnovalue\n"):
        with pytest.raises(up.UnitSyntaxError):
            up.parse_unit(bad)
    assert up.parse_env_file("# h\n  A= x \nB=a=b\u2028c\n\nC=\n") == {"A": " x ", "B": "a=b\u2028c", "C": ""}


# -- the command line -----------------------------------------------------------------------------

CLI_CASES = [  # (id, field, value, key path)
    ("env-nul", "env value", "a\x00b", "containers.web.env.V"),
    ("reserved-name", "app.name", "root", "app.name"),
    ("name-trailing-newline", "app.name", "demo\n", "app.name"),
    ("volume-escapes", "volumes", "../../etc:/etc2", "containers.web.volumes"),
    ("health-cmd-newline", "health.cmd", "true\nreboot", "containers.web.health.cmd"),
    ("huge-duration", "health.interval", "9" * 400 + "ms", "containers.web.health.interval"),
    ("schedule-injection", "backup.schedule", "daily\n[Service]", "backup.schedule"),
]


@pytest.mark.skipif(os.geteuid() != 0, reason="roost plan requires root (CI runs as root)")
@pytest.mark.parametrize("field, value, where", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_hostile_spec_with_exit_2(tmp_path, field, value, where):
    spec = tmp_path / "app.toml"
    spec.write_text(FIELDS[field].embed(value).replace('name = "demo"', 'name = "roost-fuzz-test"'))
    line = FIELDS[field].where(value)[where]
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "roost", "plan", str(spec)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr
    assert f"{spec}:{line}: {where}: " in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not Path("/srv/roost/roost-fuzz-test").exists()
