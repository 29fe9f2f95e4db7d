"""The converged fast path (roost/converged.py): a converged run's reads, made again, must answer the
same for the shortcut to be taken; any difference, in the host, the spec's files or roost's code, is a
miss. Against the fake host: what it answers is exactly what the pipeline would read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roost import converged
from roost.apply import prepare
from roost.host.runner import CommandFailed, FileStat, Result
from tests.unit.fakehost import bare_host, converge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A converged fake host for a copy of the hedgedoc example, and the cache in tmp_path."""
    monkeypatch.setattr(converged, "CONVERGED_CACHE", str(tmp_path / "cache"))
    (tmp_path / "application.env").write_text((EXAMPLES / "application.env").read_text())
    spec = tmp_path / "hedgedoc.toml"
    spec.write_text((EXAMPLES / "hedgedoc.toml").read_text())
    host = bare_host()
    converge(host, prepare(spec, host))
    return host, spec


def remembered(host, spec: Path) -> converged.Memo:
    """A full run, recorded, that found nothing to change; then the memo as the next run loads it."""
    with converged.recording(host) as rec:
        prep = prepare(spec, rec)
    assert prep.plan.empty and rec.clean
    converged.remember(prep, rec)
    memo = converged.load(str(spec))
    assert memo is not None
    return memo


def test_a_converged_run_is_recognised_by_its_reads(world):
    host, spec = world
    memo = remembered(host, spec)
    assert memo.app == "hedgedoc" and memo.notes
    kinds = {read[0] for read, _ in memo.reads}
    assert {"run", "read_file", "stat", "spec", "beside"} <= kinds  # host, the spec, its env file
    host.calls.clear()
    assert converged.unchanged(memo, host)
    # the same reads again, commands included (as the app's user where the pipeline asked so)
    assert ("podman", "images", "--format", "json") in host.calls


@pytest.mark.parametrize("drift", ["unit file", "unit stopped", "secret file", "image gone", "env file", "spec",
                                   "record of another app"])
def test_any_difference_is_a_miss(world, drift):
    host, spec = world
    memo = remembered(host, spec)
    if drift == "unit file":
        host.files["/srv/hedgedoc/.config/containers/systemd/application.container"] += "# edited by its user\n"
    elif drift == "unit stopped":
        host.on("systemctl", "--user", "show", answer="Id=app.service\nLoadState=loaded\nActiveState=failed\n")
    elif drift == "secret file":
        path = next(p for p in host.files if "/secrets/" in p)
        host.files[path] = "another value\n"
    elif drift == "image gone":
        host.on("podman", "images", answer="[]")
    elif drift == "env file":
        (spec.parent / "application.env").write_text("CMD_DOMAIN=elsewhere.example\n")
    elif drift == "spec":
        spec.write_text(spec.read_text() + "\n# a comment is a change of the spec's text\n")
    else:
        host.dirs["/var/lib/roost/apps/other"] = FileStat(0o700, 0, 0, True)
    assert not converged.unchanged(memo, host)


def test_a_failed_or_mutating_read_is_not_remembered(world):
    host, spec = world
    remembered(host, spec)
    with converged.recording(host) as mutated:  # a run that found nothing to change, but also changed something
        prep = prepare(spec, mutated)
        mutated.run(["systemctl", "--user", "daemon-reload"], mutates=True)
    assert prep.plan.empty and not mutated.clean
    converged.remember(prep, mutated)
    assert converged.load(str(spec)) is None  # and the earlier memo is gone with it
    host.on("podman", "images", answer=lambda argv, user, stdin: Result(tuple(argv), 125, "", "boom"))
    with converged.recording(host) as failed, pytest.raises(CommandFailed):
        failed.run(["podman", "images", "--format", "json"])
    assert not failed.clean


def test_two_answers_to_one_read_in_one_run_are_not_remembered(world):
    host, _ = world
    rec = converged.Recording(host)
    host.files["/etc/x"] = "a"
    rec.read_file("/etc/x")
    host.files["/etc/x"] = "b"
    rec.read_file("/etc/x")
    assert not rec.clean


def test_another_roost_is_a_miss(world, monkeypatch):
    host, spec = world
    remembered(host, spec)
    monkeypatch.setattr(converged, "code_key", lambda: "another version of roost")
    assert converged.load(str(spec)) is None


def test_the_cache_holds_no_values_and_only_root_reads_it(world):
    host, spec = world
    remembered(host, spec)
    (path,) = Path(converged.CONVERGED_CACHE).iterdir()
    text = path.read_text()
    secrets = [v for p, v in host.files.items() if "/secrets/" in p]
    assert secrets and not any(v.strip() in text for v in secrets)
    assert "CMD_DEFAULT_PERMISSION" not in text and "limited" not in text  # nor the env file's (digests only)
    assert path.stat().st_mode & 0o777 == 0o600 and Path(converged.CONVERGED_CACHE).stat().st_mode & 0o777 == 0o700
    json.loads(text)


def test_the_fast_path_imports_neither_the_model_nor_the_planner():
    """Its point: a converged apply does not pay for pydantic, the renderer and the planner."""
    code = ("import sys, roost.cli.apply, roost.converged, roost.lock, roost.host.runner;"
            "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'roost.spec.model', 'roost.plan', "
            "'roost.render'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
