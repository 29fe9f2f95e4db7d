"""One sanitizer for text roost did not write (issue 17, item 6): each path that shows such text
to root's terminal goes through roost.output.plain, checked here on what reaches the console."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from roost import output
from roost.output import cell, plain
from tests.unit.fakehost import app_record

HOSTILE = "x\x1b]0;owned\x07\x1b[2J\x1b[31m[bold red]red[/]\u202eevil\x9b\r\n"


@pytest.fixture
def shown(monkeypatch) -> io.StringIO:
    buf = io.StringIO()
    fake = Console(file=buf, width=400, force_terminal=True, color_system=None, highlight=False)
    monkeypatch.setattr(output, "console", fake)
    return buf


def _clean(text: str) -> None:
    assert not any(ch in text for ch in "\x07\x9b\u202e\r"), repr(text)
    assert "\x1b]" not in text and "\x1b[2J" not in text and "\x1b[31m" not in text, repr(text)


def test_plain_replaces_every_unsafe_character_and_keeps_lines_when_asked():
    assert plain(HOSTILE) == "x?]0;owned??[2J?[31m[bold red]red[/]?evil???"
    assert plain("a\nb\tc", lines=True) == "a\nb\tc"
    assert plain("[bold]x[/]", markup=True) == "\\[bold]x\\[/]"
    assert cell(HOSTILE).plain == plain(HOSTILE)


def test_status_table(monkeypatch, shown):
    from roost.cli import status as cli_status

    monkeypatch.setattr(cli_status, "console", output.console)
    row = {"container": HOSTILE, "state": "active/running", "health": HOSTILE, "image": HOSTILE, "digest": HOSTILE,
           "uptime_s": 5}
    cli_status._print_table([{"app": "a", "pod": "active/running", "publish": [HOSTILE], "containers": [row],
                              "url": HOSTILE, "certificates": {"d": HOSTILE}, "error": HOSTILE}])
    _clean(shown.getvalue())
    assert "[bold red]red[/]" in shown.getvalue()  # shown as text, not read as markup


def test_doctor_table(monkeypatch, shown):
    from click.testing import CliRunner

    from roost.checks import FAIL, Check
    from roost.cli import doctor as cli_doctor

    monkeypatch.setattr(cli_doctor, "console", output.console)
    monkeypatch.setattr("roost.cli.common.require_root", lambda: None)
    monkeypatch.setattr("roost.cli.common.list_apps", lambda host: [])
    monkeypatch.setattr("roost.doctor.run_checks", lambda host, apps, only: [Check(HOSTILE, FAIL, HOSTILE, HOSTILE)])
    result = CliRunner().invoke(cli_doctor.doctor, [])
    assert result.exit_code == 1, result.output
    _clean(shown.getvalue())
    assert "owned" in shown.getvalue()


def test_plan_diff_of_a_home_file(monkeypatch, shown):
    from roost.cli import common
    from roost.plan.actions import Plan

    class Changed:
        def describe(self) -> str:
            return f"write {HOSTILE}"

        def detail(self) -> str:
            return f"--- a/f\n+++ b/f\n-{HOSTILE}+new\n"

    monkeypatch.setattr(common, "console", output.console)
    common.print_plan(Plan("a", [Changed()], []))  # type: ignore[list-item]
    _clean(shown.getvalue())
    assert "+new" in shown.getvalue()


def test_a_plan_step_of_several_lines_is_shown_on_several_lines(monkeypatch, shown):
    """`lab try` showed `directories (3):?       create ...`: the newlines of a grouped step were made `?`."""
    from roost.cli import common
    from roost.plan.actions import MakeDirs, Plan
    from roost.render.wants import DirWant

    monkeypatch.setattr(common, "console", output.console)
    common.print_plan(Plan("a", [MakeDirs((DirWant("/srv/a", 0o750, 1, 1), DirWant("/srv/b", 0o700, 1, 1)))], []))
    text = shown.getvalue()
    assert "?" not in text, text
    assert "directories (2):\n       create /srv/a (0750, 1:1)\n       create /srv/b (0700, 1:1)" in text, text


def test_history_table(monkeypatch, shown, tmp_path):
    from click.testing import CliRunner

    from roost.cli import history as cli_history

    monkeypatch.setattr(output, "console", output.console)
    monkeypatch.setattr("roost.cli.common.require_root", lambda: None)
    monkeypatch.setattr("roost.cli.common.load_app", lambda name, host: app_record(name, home=str(tmp_path)))
    entry = {"time": HOSTILE, "who": HOSTILE, "action": HOSTILE, "result": HOSTILE, "images": {HOSTILE: {"image": HOSTILE}}}
    monkeypatch.setattr("roost.history.read", lambda host, layout: [entry])
    result = CliRunner().invoke(cli_history.history, ["a"])
    assert result.exit_code == 0, result.output
    _clean(shown.getvalue())


def test_logs(monkeypatch):
    from click.testing import CliRunner

    from roost.cli import logs as cli_logs
    from roost.host.runner import Result

    class Host:
        def run(self, argv, check=False):
            return Result(tuple(argv), 0, f"line {HOSTILE}", "")

    monkeypatch.setattr("roost.cli.common.require_root", lambda: None)
    monkeypatch.setattr("roost.cli.common.load_app", lambda name, host: app_record("a", uid=1, pod_service="p"))
    monkeypatch.setattr("roost.cli.common.runner", lambda: Host())
    result = CliRunner().invoke(cli_logs.logs, ["a"])
    _clean(result.output)
    assert "line x" in result.output


def test_json_output_escapes_control_characters():
    assert "\x1b" not in json.dumps({"image": HOSTILE})  # --json: the encoder writes \u001b
