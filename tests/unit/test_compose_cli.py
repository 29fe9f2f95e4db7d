"""The `roost import` and `roost check` verbs: files in, spec out, report on stderr, exit codes. No root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMPOSE = """\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASS:-Sh4red-literal}
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
  web:
    image: example.org/web:${TAG:?set TAG in .env}
    depends_on:
      db: {condition: service_healthy}
    environment:
      DATABASE_URL: postgres://postgres:${DB_PASS:-Sh4red-literal}@db/app
    ports: ["8080:80"]
"""


def roost(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TAG", "DB_PASS")}
    return subprocess.run([sys.executable, "-m", "roost", *args], cwd=cwd, capture_output=True, text=True,
                          env={**full_env, **(env or {})}, timeout=60, check=False)


def test_import_reads_the_project_env_writes_the_spec_and_check_accepts_it(tmp_path: Path):
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "docker-compose.yml").write_text(COMPOSE)
    (project / ".env").write_text("TAG=2.1\n")
    out = roost("import", "myproject/docker-compose.yml", "-o", "app.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    spec = (tmp_path / "app.toml").read_text()
    assert spec.startswith("# roost spec imported from myproject/docker-compose.yml")
    assert 'name = "myproject"' in spec and 'image = "example.org/web:2.1"' in spec
    assert "Sh4red-literal" not in spec + out.stdout + out.stderr
    assert "secrets.postgres_password" in out.stderr and "docker-compose.yml:5" in out.stderr
    check = roost("check", "app.toml", cwd=tmp_path)
    assert check.returncode == 0 and "ok app.toml" in check.stdout


def test_import_prints_the_spec_when_no_output_is_given(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    out = roost("import", "compose.yml", "--name", "shop", cwd=tmp_path, env={"TAG": "1"})
    assert out.returncode == 0, out.stderr
    assert '[app]\nname = "shop"' in out.stdout and "approximated" in out.stderr


def test_strict_exits_2_when_something_was_approximated(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    out = roost("import", "compose.yml", "--strict", "-o", "x.toml", cwd=tmp_path, env={"TAG": "1"})
    assert out.returncode == 2 and "--strict" in out.stderr


def test_required_variable_missing_is_a_located_error(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    out = roost("import", "compose.yml", "-o", "x.toml", cwd=tmp_path)
    assert out.returncode == 2
    assert "compose.yml:9: required variable TAG: set TAG in .env" in out.stderr
    assert not (tmp_path / "x.toml").exists()


def test_env_file_option_replaces_the_project_env(tmp_path: Path):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    (tmp_path / ".env").write_text("TAG=from-dotenv\n")
    (tmp_path / "prod.env").write_text("TAG=from-option\n")
    out = roost("import", "compose.yml", "--env-file", "prod.env", cwd=tmp_path)
    assert "example.org/web:from-option" in out.stdout


def test_missing_compose_file(tmp_path: Path):
    out = roost("import", "nope.yml", cwd=tmp_path)
    assert out.returncode == 2 and "nope.yml: no such file" in out.stderr


def test_check_reports_every_bad_spec_with_lines_and_exits_2(tmp_path: Path):
    (tmp_path / "good.toml").write_text('[app]\nname = "good"\n[containers.web]\nimage = "example.org/w:1"\n')
    (tmp_path / "bad.toml").write_text('[app]\nname = "bad"\n[containers.web]\nimage = "example.org/w:1"\n'
                                       'requires = ["db"]\n')
    (tmp_path / "typo.toml").write_text('[app]\nname = "typo"\n[containers.web]\nimgae = "x"\n')
    out = roost("check", "good.toml", "bad.toml", "typo.toml", cwd=tmp_path)
    assert out.returncode == 2
    assert "ok good.toml" in out.stdout
    assert "bad.toml:5: containers.web.requires: no container named 'db'" in out.stderr
    assert "typo.toml:4: containers.web.imgae: unknown key" in out.stderr
    assert "2 of 3 spec(s) have problems" in out.stderr


def test_check_reads_env_files_and_fails_as_plan_would(tmp_path: Path):
    spec = '[app]\nname = "shop"\n[containers.web]\nimage = "docker.io/library/nginx"\nenv_file = "web.env"\n'
    (tmp_path / "shop.toml").write_text(spec)
    missing = roost("check", "shop.toml", cwd=tmp_path)
    assert missing.returncode == 2 and "web.env does not exist" in missing.stderr
    (tmp_path / "web.env").write_text("export FOO=1\n")
    exported = roost("check", "shop.toml", cwd=tmp_path)
    assert exported.returncode == 2 and "line 1" in exported.stderr
    (tmp_path / "web.env").write_text("FOO=1\n")
    assert roost("check", "shop.toml", cwd=tmp_path).returncode == 0
