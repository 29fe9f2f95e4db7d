"""Bad specs: each is refused with the key path and the line it is written on. Nothing reaches the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roost.errors import SpecError
from roost.spec.load import parse_spec

SRC = Path(__file__).resolve().parents[2] / "src"

BASE = """\
[app]
name = "demo"

[containers.web]
image = "example.org/web:1"
"""
# lines of BASE: 2 app.name, 4 [containers.web], 5 image; what a case appends starts on line 6


def app(extra: str) -> str:
    """BASE with lines added to [app] (they start on line 3, and BASE's lines move down)."""
    return BASE.replace('name = "demo"\n', 'name = "demo"\n' + extra, 1)


def pod(publish: str) -> str:
    return BASE + f"\n[pod]\npublish = {publish}\n"  # publish on line 8


# (id, spec text, key path, line, a fragment of the message)
CASES = [
    # unknown keys
    ("unknown-top-level", BASE + "\n[extras]\nx = 1\n", "extras", 7, "unknown key"),
    ("unknown-in-app", app('owner = "me"\n'), "app.owner", 3, "unknown key"),
    ("unknown-in-container", BASE + 'restart_policy = "always"\n', "containers.web.restart_policy", 6, "unknown key"),
    ("unknown-in-health-inline", BASE + 'health = { cmd = "true", every = "5s" }\n',
     "containers.web.health.every", 6, "unknown key"),
    ("unknown-in-health-table", BASE + '\n[containers.web.health]\ncmd = "true"\nevery = "5s"\n',
     "containers.web.health.every", 9, "unknown key"),
    # wrong types
    ("uid-as-string", app('uid = "2000"\n'), "app.uid", 3, "valid integer"),
    ("uid-as-float", app("uid = 2000.0\n"), "app.uid", 3, "valid integer"),
    ("publish-as-string", pod('"8080:80"'), "pod.publish", 8, "valid tuple"),
    ("env-value-int", BASE + "env = { PORT = 8080 }\n", "containers.web.env.PORT", 6, "valid string"),
    ("retries-as-string", BASE + 'health = { cmd = "true", retries = "3" }\n',
     "containers.web.health.retries", 6, "valid integer"),
    ("postgres-as-string", BASE + 'postgres = "yes"\n', "containers.web.postgres", 6, "valid boolean"),
    # names
    ("app-name-uppercase", BASE.replace('"demo"', '"Demo"'), "app.name", 2, "not a valid app name"),
    ("app-name-reserved", BASE.replace('"demo"', '"root"'), "app.name", 2, "clashes with a system account"),
    ("container-name-underscore", BASE.replace("containers.web", "containers.my_web"),
     "containers.my_web", 4, "not a valid container name"),
    ("secret-name-uppercase", BASE + "\n[secrets.DB]\ngenerate = 32\n", "secrets.DB", 7, "not a valid secret name"),
    ("env-name-invalid", BASE + 'env = { "1X" = "a" }\n', "containers.web.env", 6, "not a valid environment"),
    # ranges
    ("uid-below-range", app("uid = 1000\n"), "app.uid", 3, "greater than or equal to 2000"),
    ("uid-above-range", app("uid = 60000\n"), "app.uid", 3, "less than or equal to 59999"),
    ("secret-too-short", BASE + "\n[secrets]\ndb = { generate = 8 }\n", "secrets.db.generate", 8, "greater than"),
    # publish
    ("duplicate-host-port", pod('["8080:80", "127.0.0.1:8080:81"]'), "pod.publish", 8, "8080/tcp is published twice"),
    ("publish-no-container-port", pod('["8080"]'), "pod.publish", 8, "not a port mapping"),
    ("publish-port-out-of-range", pod('["70000:80"]'), "pod.publish", 8, "out of range"),
    ("publish-bad-ip", pod('["300.1.1.1:80:80"]'), "pod.publish", 8, "not an IPv4 address"),
    # host paths
    ("volume-escapes-home", BASE + 'volumes = ["../etc:/data"]\n', "containers.web.volumes", 6, "leaves the app's home"),
    ("volume-escapes-home-nested", BASE + 'volumes = ["data/../../x:/data"]\n',
     "containers.web.volumes", 6, "leaves the app's home"),
    ("volume-absolute-outside-home", BASE + 'volumes = ["/var/lib/x:/data"]\n',
     "containers.web.volumes", 6, "list it in app.allow_host_paths"),
    ("volume-absolute-not-normalised", BASE + 'volumes = ["/srv/roost/demo/../x:/data"]\n',
     "containers.web.volumes", 6, "must be normalised"),
    ("volume-allowed-prefix-only", app('allow_host_paths = ["/var/lib/x"]\n') + 'volumes = ["/var/lib/xy:/data"]\n',
     "containers.web.volumes", 7, "outside the app's home"),
    ("home-with-dotdot", app('home = "/srv/../etc"\n'), "app.home", 3, "normalised absolute path"),
    ("env-file-escapes", BASE + 'env_file = "../secret.env"\n', "containers.web.env_file", 6, "inside it"),
    # control characters
    ("env-newline", BASE + 'env = { A = "x\\ny" }\n', "containers.web.env.A", 6, "newlines are not allowed"),
    ("env-carriage-return", BASE + 'env = { A = "x\\ry" }\n', "containers.web.env.A", 6, "newlines are not allowed"),
    ("env-nul", BASE + 'env = { A = "x\\u0000y" }\n', "containers.web.env.A", 6, "control character"),
    ("env-escape-char", BASE + 'env = { A = "x\\u001by" }\n', "containers.web.env.A", 6, "control character"),
    ("image-nul", BASE.replace('web:1"', 'web:1\\u0000"'), "containers.web.image", 5, "not an image reference"),
    ("image-newline", BASE.replace('web:1"', 'web:1\\nx"'), "containers.web.image", 5, "not an image reference"),
    ("health-cmd-bell", BASE + 'health = { cmd = "true\\u0007" }\n', "containers.web.health.cmd", 6, "control character"),
    ("health-cmd-newline", BASE + 'health = { cmd = "true\\nreboot" }\n',
     "containers.web.health.cmd", 6, "newlines are not allowed"),
    ("command-newline", BASE + 'command = ["serve", "a\\nb"]\n', "containers.web.command.1", 6, "newlines"),
    ("command-del", BASE + 'command = ["serve\\u007f"]\n', "containers.web.command.0", 6, "control character"),
    # the container graph
    ("requires-cycle", BASE + 'requires = ["db"]\n\n[containers.db]\nimage = "postgres:16"\nrequires = ["web"]\n',
     "containers.db.requires", 10, "cycle: db -> web -> db"),
    ("requires-itself", BASE + 'requires = ["web"]\n', "containers.web.requires", 6, "cannot require itself"),
    ("requires-unknown", BASE + 'requires = ["db"]\n', "containers.web.requires", 6, "no container named 'db'"),
    ("unknown-secret", BASE + 'env = { A = "${secrets.nope}" }\n\n[secrets]\ndb = { generate = 32 }\n',
     "containers.web.env.A", 6, "unknown secret ${secrets.nope} (declared: db)"),
    # durations
    ("duration-with-space", BASE + 'health = { cmd = "true", interval = "10 sec" }\n',
     "containers.web.health.interval", 6, "not a duration"),
    ("duration-no-unit", app('health_timeout = "300"\n'), "app.health_timeout", 3, "not a duration"),
    ("duration-negative", BASE + 'health = { cmd = "true", start_period = "-5s" }\n',
     "containers.web.health.start_period", 6, "not a duration"),
    # structure
    ("invalid-toml", BASE + "image = \n", "(toml)", 6, "not valid TOML"),
    ("invalid-toml-duplicate-key", BASE + 'image = "x:1"\n', "(toml)", 6, "not valid TOML"),
    ("no-containers", '[app]\nname = "demo"\n\n[containers]\n', "containers", 4, "at least one container"),
    ("no-app", '[containers.web]\nimage = "example.org/web:1"\n', "app", None, "required key is missing"),
    ("health-cmd-and-http", BASE + 'health = { cmd = "true", http = "http://localhost/" }\n',
     "containers.web.health", 6, "exactly one of `cmd` or `http`"),
    ("health-neither", BASE + 'health = { interval = "5s" }\n', "containers.web.health", 6, "exactly one"),
    ("health-http-shell", BASE + 'health = { http = "http://x/;reboot" }\n',
     "containers.web.health", 6, "not a plain http(s) URL"),
]


@pytest.mark.parametrize("text, where, line, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_is_located(text, where, line, fragment):
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.toml")
    problems = [(p.where, p.line) for p in info.value.problems]
    assert (where, line) in problems, info.value.message
    loc = f"s.toml:{line}" if line else "s.toml"
    assert f"  {loc}: {where}: " in info.value.message
    assert fragment in info.value.message


def test_base_and_allowed_paths_load():
    """The cases above fail because of what they add: the base is valid, and so are allowed host paths."""
    assert parse_spec(BASE).name == "demo"
    spec = parse_spec(app('allow_host_paths = ["/var/lib/x"]\n') + 'volumes = ["/var/lib/x/data:/data", "/srv/roost/demo/y:/y"]\n')
    assert [m.source for m in spec.containers["web"].mounts] == ["/var/lib/x/data", "/srv/roost/demo/y"]


def test_every_problem_is_reported_at_once():
    text = app('uid = "x"\n').replace('"demo"', '"Demo"') + "restart = 1\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.toml")
    assert {p.where for p in info.value.problems} == {"app.name", "app.uid", "containers.web.restart"}


# -- the command line -----------------------------------------------------------------

CLI_CASES = [
    ("unknown-secret", BASE + 'env = { SOME_LONG_VARIABLE_NAME = "${secrets.a_missing_secret_with_a_long_name}" }\n',
     "containers.web.env.SOME_LONG_VARIABLE_NAME", 6),
    ("invalid-toml", BASE + "image = \n", "(toml)", 6),
    ("escaping-volume", BASE + 'volumes = ["../../etc:/etc2"]\n', "containers.web.volumes", 6),
]


@pytest.mark.skipif(os.geteuid() != 0, reason="roost plan requires root (CI runs as root)")
@pytest.mark.parametrize("text, where, line", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_spec_with_exit_2_and_writes_nothing(tmp_path, text, where, line):
    name = "roost-spec-errors-test"
    registry = Path("/etc/roost/apps") / f"{name}.json"
    assert not registry.exists()
    spec = tmp_path / "app.toml"
    spec.write_text(text.replace('"demo"', f'"{name}"'))
    before = sorted(tmp_path.iterdir())
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "80"}  # 80 columns: the located line must not wrap
    proc = subprocess.run([sys.executable, "-m", "roost", "plan", str(spec)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr
    assert f"{spec}:{line}: {where}: " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not registry.exists()
    assert sorted(tmp_path.iterdir()) == before
    assert not Path(f"/srv/roost/{name}").exists()


def test_the_same_app_twice_in_one_apply_is_refused(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "a.toml"
    spec.write_text('[app]\nname = "twice"\n[containers.web]\nimage = "registry.example.org/web:1"\n')
    copy = tmp_path / "b.toml"
    copy.write_text(spec.read_text())
    r = subprocess.run([sys.executable, "-m", "roost", "apply", str(spec), str(copy)], capture_output=True, text=True)
    assert r.returncode == 2 and "app twice is named by more than one spec" in r.stderr
    assert not Path("/etc/roost/apps/twice.json").exists()


def test_lab_try_reports_a_bad_spec_before_booting_anything(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "bad.toml"
    spec.write_text('[app]\nname = "x"\nbogus = 1\n[containers.w]\nimage = "registry.example.org/w:1"\n')
    r = subprocess.run([sys.executable, "-m", "roost", "lab", "try", str(spec), "--name", "never-booted"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and f"{spec}:3: app.bogus: unknown key" in r.stderr
    assert not Path("/var/lib/roost/lab/never-booted").exists()
