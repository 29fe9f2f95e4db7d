"""Renderers: golden files for the example app, and the escaping rules of the one serializer.

Regenerate the golden files after an intended change with:
    ROOST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_render.py
and review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roost.render.desired import Identity, render
from roost.render.envfile import parse_env, render_env
from roost.render.unitfile import Entry, UnitFile, UnsafeValue, escape_raw, quote_word, section
from roost.spec.envfiles import read_env_files
from roost.spec.load import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
HEDGEDOC = ROOT / "examples" / "hedgedoc.toml"
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("ROOST_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def desired():
    spec = load_spec(HEDGEDOC)
    return render(spec, Identity(2000, 2000, 200_000_000), read_env_files(spec, HEDGEDOC), "examples/hedgedoc.toml")


GOLDEN_FILES = {
    "hedgedoc.pod": "/srv/hedgedoc/.config/containers/systemd/hedgedoc.pod",
    "database.container": "/srv/hedgedoc/.config/containers/systemd/database.container",
    "application.container": "/srv/hedgedoc/.config/containers/systemd/application.container",
    "database.env": "/srv/hedgedoc/env/database.env",
    "application.env": "/srv/hedgedoc/env/application.env",
}


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden(desired, name):
    got = desired.file(GOLDEN_FILES[name]).content
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got)
    assert got == path.read_text(), f"{name} differs from its golden file (ROOST_UPDATE_GOLDEN=1 rewrites it)"


def test_files_modes_and_owners(desired):
    units = [desired.file(p) for n, p in GOLDEN_FILES.items() if not n.endswith(".env")]
    envs = [desired.file(p) for n, p in GOLDEN_FILES.items() if n.endswith(".env")]
    assert {(f.mode, f.uid, f.gid) for f in units} == {(0o644, 2000, 2000)}
    assert {(f.mode, f.uid, f.gid) for f in envs} == {(0o600, 2000, 2000)}
    assert all(f.sensitive for f in envs)  # masked in plans, also when an env_file is removed
    assert {(f.path, f.mode, f.uid) for f in desired.state_files} == {("/var/lib/roost/apps/hedgedoc/record.json", 0o644, 0)}


def test_secret_values_never_reach_files(desired):
    """Env values that mention secrets become podman secrets; files hold only the reference."""
    text = "".join(f.content for f in desired.files)
    assert "${secrets." not in text and "POSTGRES_PASSWORD=" not in text
    assert {(w.container, w.var) for w in desired.secret_envs} == {
        ("database", "POSTGRES_PASSWORD"), ("application", "CMD_DB_URL"), ("application", "CMD_SESSION_SECRET")}
    want = next(w for w in desired.secret_envs if w.var == "CMD_DB_URL")
    assert want.resolve({"db_password": "pw"}) == "postgres://hedgedoc:pw@localhost:5432/hedgedoc"
    assert want.resolve({}) is None


def test_goldens_are_in_use():
    """A stale golden file (for a file no longer rendered) is an error too."""
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(GOLDEN_FILES)


def test_command_and_percent_reach_the_unit_escaped():
    spec = parse_spec('[app]\nname = "demo"\n\n[containers.web]\nimage = "example.org/web:1"\n'
                      'command = ["sh", "-c", "echo 100% \\"done\\""]\nhealth = { cmd = "test 1 -lt 2 && echo 5%" }\n'
                      'env = { RATIO = "50%" }\n')
    d = render(spec, Identity(2001, 2001, 200_100_000))
    unit = d.file("/srv/roost/demo/.config/containers/systemd/web.container").content
    assert 'Exec=sh -c "echo 100%% \\"done\\""\n' in unit
    assert "HealthCmd=test 1 -lt 2 && echo 5%%\n" in unit
    # env files are not read by systemd: no specifier escaping there
    assert "RATIO=50%\n" in d.file("/srv/roost/demo/env/web.env").content


# -- the unit file serializer ------------------------------------------------------------

@pytest.mark.parametrize("value, written", [
    ("plain", "plain"),
    ("100%", "100%%"),
    ("%h/%%", "%%h/%%%%"),
    ("a b\tc", "a b\tc"),
    ('say "hi"', 'say "hi"'),  # raw values are taken verbatim by systemd
])
def test_escape_raw(value, written):
    assert escape_raw(value) == written


@pytest.mark.parametrize("value, error", [
    ("a\nb", "control characters"),
    ("a\rb", "control characters"),
    ("a\x00b", "control characters"),
    ("a\x1bb", "control characters"),
    ("a\x7fb", "control characters"),
    ("ends with\\", "backslash"),
    (" leading", "white space"),
    ("trailing ", "white space"),
])
def test_escape_raw_refuses(value, error):
    with pytest.raises(UnsafeValue, match=error):
        escape_raw(value)


@pytest.mark.parametrize("word, written", [
    ("plain", "plain"),
    ("--flag=1", "--flag=1"),
    ("two words", '"two words"'),
    ("tab\there", '"tab\there"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("it's", '"it\'s"'),
    ("back\\slash", '"back\\\\slash"'),
    ("trailing\\", '"trailing\\\\"'),
    ("a;b", '"a;b"'),
    ("50%", "50%%"),
    ("", '""'),
])
def test_quote_word(word, written):
    assert quote_word(word) == written


@pytest.mark.parametrize("word", ["a\nb", "a\x00", "\x1b[31m", "del\x7f"])
def test_quote_word_refuses_control_characters(word):
    with pytest.raises(UnsafeValue):
        quote_word(word)


def test_unit_file_layout():
    unit = UnitFile((
        section("Unit", ("Description", "x 100%")),
        section("Empty"),
        section("Container", ("Exec", ("a b", "c")), None, ("Label", ("k=v",))),
    ), header="# h")
    assert unit.render() == '# h\n\n[Unit]\nDescription=x 100%%\n\n[Container]\nExec="a b" c\nLabel=k=v\n'
    assert Entry("Exec", ()).render() == "Exec="


# -- env files -----------------------------------------------------------------------------

def test_env_rendering_is_sorted_and_literal():
    text = render_env({"B": 'x "y" $HOME \\n', "A": "1", "EMPTY": ""}, "header")
    assert text == '# header\nA=1\nB=x "y" $HOME \\n\nEMPTY=\n'
    assert parse_env(text) == {"A": "1", "B": 'x "y" $HOME \\n', "EMPTY": ""}


@pytest.mark.parametrize("values, error", [
    ({"A": "x\ny"}, "single line"),
    ({"A": "x\ry"}, "single line"),
    ({"A": "x\x00"}, "control character"),
    ({"1A": "x"}, "invalid environment variable name"),
    ({"A=B": "x"}, "invalid environment variable name"),
])
def test_env_rendering_refuses(values, error):
    with pytest.raises(ValueError, match=error):
        render_env(values)


def test_env_parsing_refuses_what_podman_would_misread():
    with pytest.raises(ValueError, match="line 2: expected KEY=VALUE"):
        parse_env("A=1\nexport B=2\n")
