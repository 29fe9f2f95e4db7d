"""Every real compose file of the corpus imports, roost's own loader accepts the spec, and golden files
pin spec and report. Regenerate: ROOST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_compose_corpus.py"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from roost.compose import import_compose
from roost.compose.convert import Options
from roost.compose.interpolate import parse_dotenv
from roost.errors import UsageError
from roost.spec.load import parse_spec

CORPUS = Path(__file__).resolve().parents[1] / "data" / "compose"
GOLDEN = CORPUS / "golden"
FILES = sorted(CORPUS.glob("*.yml"))
UPDATE = os.environ.get("ROOST_UPDATE_GOLDEN") == "1"


def test_the_corpus_is_large_enough_and_documented():
    assert len(FILES) >= 30
    readme = (CORPUS / "README.md").read_text()
    for f in FILES:
        assert f"`{f.name}`" in readme, f"{f.name} has no source/licence line in README.md"


def run(path: Path):
    env_file = path.with_suffix(".env")
    env = parse_dotenv(env_file.read_text()) if env_file.exists() else {}

    def read_env_file(name: str) -> str | None:  # the project's env_file files, where the corpus has them
        found = CORPUS / "envfiles" / path.stem / name
        return found.read_text() if found.is_file() else None

    opts = Options(default_name=path.stem, read_env_file=read_env_file)
    return import_compose(path.read_text(), path.name, env, opts)


def check_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with ROOST_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path.name} changed; review the diff and regenerate"


# files roost refuses to import, each for a reason its golden .refused file pins (docs/import.md says why)
REFUSED = {"rocketchat"}


@pytest.mark.parametrize("path", [f for f in FILES if f.stem in REFUSED], ids=sorted(REFUSED))
def test_corpus_file_roost_refuses_says_why(path: Path):
    with pytest.raises(UsageError) as e:
        run(path)
    check_golden(GOLDEN / f"{path.stem}.refused", f"{e.value.message}\n-> {e.value.hint}\n")


@pytest.mark.parametrize("path", [f for f in FILES if f.stem not in REFUSED],
                         ids=[f.stem for f in FILES if f.stem not in REFUSED])
def test_corpus_file_imports_and_roost_accepts_the_spec(path: Path):
    result = run(path)
    spec = parse_spec(result.spec, f"{path.stem}.toml")  # what `roost check` does
    assert spec.containers
    # every generated secret is used, and no value it replaced is left anywhere in the spec
    for name in spec.secrets:
        assert f"${{secrets.{name}}}" in result.spec
    check_golden(GOLDEN / f"{path.stem}.toml", result.spec)
    check_golden(GOLDEN / f"{path.stem}.report", result.report.render())


@pytest.mark.parametrize("path", [f for f in FILES if f.stem not in REFUSED],
                         ids=[f.stem for f in FILES if f.stem not in REFUSED])
def test_every_report_line_names_a_compose_line(path: Path):
    report = run(path).report
    lines = len(path.read_text().splitlines())
    for f in report.findings:
        assert f.line is not None and 1 <= f.line <= lines, f
        assert re.match(r"^(services|volumes|networks|secrets|configs|name|\(interpolation\)|[a-z_]+)", f.where), f
