"""`roost import`: each mapping, each report case, interpolation and secrets, from small compose texts."""

from __future__ import annotations

import textwrap

import pytest

from roost.compose import import_compose
from roost.compose.convert import Options
from roost.compose.interpolate import InterpolationError, interpolate, parse_dotenv
from roost.errors import UsageError
from roost.spec.load import parse_spec


def imp(yaml: str, env: dict[str, str] | None = None, **opts):
    result = import_compose(textwrap.dedent(yaml), "compose.yml", env or {}, Options(default_name="demo", **opts))
    return parse_spec(result.spec), result.report, result.spec


def kinds(report, where: str) -> list[str]:
    return [f.kind for f in report.findings if f.where.startswith(where)]


def finding(report, text: str):
    found = [f for f in report.findings if text in f.did]
    assert found, f"no finding mentions {text!r}: {report.render()}"
    return found[0]


# -- interpolation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, env, want", [
    ("${A}", {"A": "1"}, "1"),
    ("$A-x", {"A": "1"}, "1-x"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A-d}", {}, "d"),
    ("${A:+alt}", {"A": "x"}, "alt"),
    ("${A:+alt}", {"A": ""}, ""),
    ("${A+alt}", {"A": ""}, "alt"),
    ("$$A and $${B}", {"A": "no"}, "$A and ${B}"),
    ("${A:-${B:-deep}}", {}, "deep"),
    ("${A:?must}", {"A": "ok"}, "ok"),
    ("${A?must}", {"A": ""}, ""),
    ("cost: 5$", {}, "cost: 5$"),
])
def test_interpolation_forms(text, env, want):
    assert interpolate(text, env) == want


def test_unset_variable_becomes_empty_and_is_reported():
    seen = []
    assert interpolate("x${NOPE}y", {}, unset=seen.append) == "xy"
    assert seen == ["NOPE"]


@pytest.mark.parametrize("text, env", [("${A:?give A}", {}), ("${A:?give A}", {"A": ""}), ("${A?give A}", {})])
def test_required_variable_error_names_the_line(text, env):
    yaml = f"""\
    services:
      web:
        image: nginx
        environment:
          X: "{text}"
    """
    with pytest.raises(InterpolationError) as e:
        imp(yaml, env)
    assert e.value.message.startswith("compose.yml:5: required variable A")
    assert e.value.exit_code == 2


def test_required_variable_message_from_the_file():
    with pytest.raises(InterpolationError) as e:
        interpolate("${DB_PASS:?set a database password}", {}, source="c.yml", line=7)
    assert "c.yml:7" in e.value.message and "set a database password" in e.value.message


def test_bad_variable_syntax_is_located():
    with pytest.raises(InterpolationError, match=r"compose.yml:4: unterminated"):
        imp("services:\n  web:\n    image: nginx\n    command: echo ${OOPS\n")


def test_dotenv_file():
    env = parse_dotenv(textwrap.dedent("""\
        # comment
        export A=1
        B='lit ${A}'
        C="with ${A} and \\"q\\""
        D=plain # trailing comment
        E=${A}${A}
        not a line
    """))
    assert env == {"A": "1", "B": "lit ${A}", "C": 'with 1 and "q"', "D": "plain", "E": "11"}


def test_interpolation_reaches_anchored_values_and_skips_unused_extensions():
    spec, _report, _ = imp("""\
    x-unused:
      broken: ${NEVER:?would fail if interpolated}
    x-base: &base
      image: "example.org/app:${TAG:-1.0}"
    services:
      web:
        <<: *base
        command: ["serve"]
    """)
    assert spec.containers["web"].image == "example.org/app:1.0"


# -- mappings --------------------------------------------------------------------------------------
def test_image_short_names_are_qualified_as_docker_does():
    spec, report, _ = imp("""\
    services:
      db: {image: "postgres:16"}
      web: {image: "n8nio/n8n"}
      ok: {image: "quay.io/hedgedoc/hedgedoc:1"}
    """)
    assert spec.containers["db"].image == "docker.io/library/postgres:16"
    assert spec.containers["web"].image == "docker.io/n8nio/n8n"
    assert spec.containers["ok"].image == "quay.io/hedgedoc/hedgedoc:1"
    assert kinds(report, "services.db.image") == ["info"]


def test_ports_short_and_long_forms():
    spec, report, _ = imp("""\
    services:
      web:
        image: nginx
        ports:
          - "8080:80"
          - "0.0.0.0:8443:443"
          - "127.0.0.1:9000:9000"
          - "5353:53/udp"
          - 7000
          - "7100-7101:7100-7101"
          - target: 3000
            published: "3001"
            host_ip: 127.0.0.1
            protocol: tcp
    """)
    assert spec.network is not None and spec.pod.publish == ()
    assert spec.containers["web"].publish == (
        "127.0.0.1:8080:80", "0.0.0.0:8443:443", "127.0.0.1:9000:9000", "0.0.0.0:5353:53/udp",
        "127.0.0.1:7000:7000", "127.0.0.1:7100:7100", "127.0.0.1:7101:7101", "127.0.0.1:3001:3000",
    )
    assert finding(report, "127.0.0.1 only").line == 5
    assert finding(report, "as the compose file says").kind == "review"
    assert finding(report, "had no host port").kind == "approximated"


def test_a_host_port_published_twice_keeps_the_first():
    spec, report, _ = imp("""\
    services:
      a: {image: nginx, ports: ["127.0.0.1:8080:80"]}
      b: {image: nginx, ports: ["127.0.0.1:8080:8081"]}
    """)
    assert spec.containers["a"].publish == ("127.0.0.1:8080:80",) and spec.containers["b"].publish == ()
    assert finding(report, "already published").kind == "dropped"


def test_two_services_on_the_same_container_port_each_have_their_own_namespace():
    spec, report, _ = imp("""\
    services:
      web:
        image: nginx
        ports: ["8080:80"]
      proxy:
        image: caddy
        ports: ["8081:80"]
      sidecar:
        image: socat
        network_mode: "service:web"
        ports: ["8082:8082"]
    """)
    assert spec.own_namespace("web") and spec.own_namespace("proxy")
    assert spec.containers["web"].publish == ("127.0.0.1:8080:80", "127.0.0.1:8082:8082")
    assert spec.containers["proxy"].publish == ("127.0.0.1:8081:80",)
    assert spec.containers["sidecar"].share_network_with == "web" and not spec.containers["sidecar"].publish
    assert not any("both listen" in f.did for f in report.findings)
    assert finding(report, "whose network namespace sidecar shares").kind == "info"


def test_volumes_named_relative_absolute_and_anonymous():
    spec, report, _ = imp("""\
    services:
      web:
        image: nginx
        volumes:
          - data:/var/lib/data
          - ./conf/nginx.conf:/etc/nginx/nginx.conf:ro
          - /srv/media:/media
          - /var/run/docker.sock:/var/run/docker.sock
          - /cache
          - type: bind
            source: ./site
            target: /usr/share/nginx/html
            read_only: true
          - type: tmpfs
            target: /tmp/x
          - backups:/backups:cached
    volumes:
      data:
      backups:
    """)
    c = spec.containers["web"]
    assert c.volumes == (
        "data:/var/lib/data:Z", "conf/nginx.conf:/etc/nginx/nginx.conf:ro,Z",
        "web-cache:/cache:Z", "site:/usr/share/nginx/html:ro,Z", "data-backups:/backups:Z",
    )
    assert spec.app.allow_host_paths == ()
    assert finding(report, "host path /srv/media is not mounted").kind == "dropped"
    assert finding(report, "no Docker socket").kind == "dropped"
    assert finding(report, "anonymous volume").kind == "approximated"
    assert c.tmpfs == ("/tmp/x",)
    assert finding(report, "./conf/nginx.conf -> conf/nginx.conf").kind == "review"


def test_a_volume_two_containers_share_gets_the_shared_label():
    spec, _, _ = imp("""\
    services:
      app: {image: nextcloud, volumes: ["html:/var/www/html"]}
      web: {image: nginx, volumes: ["html:/var/www/html:ro"]}
    """)
    assert spec.containers["app"].volumes == ("html:/var/www/html:z",)
    assert spec.containers["web"].volumes == ("html:/var/www/html:ro,z",)


@pytest.mark.parametrize("test, cmd", [
    ('["CMD", "pg_isready", "-U", "app user"]', "pg_isready -U 'app user'"),
    ('["CMD-SHELL", "curl -f http://localhost/ || exit 1"]', "curl -f http://localhost/ || exit 1"),
    ('"wget -q -O- http://localhost:3000/health"', "wget -q -O- http://localhost:3000/health"),
])
def test_healthcheck_forms(test, cmd):
    spec, _, _ = imp(f"""\
    services:
      web:
        image: nginx
        healthcheck:
          test: {test}
          interval: 1m30s
          timeout: 500ms
          retries: 5
          start_period: 40s
          start_interval: 1s
    """)
    h = spec.containers["web"].health
    assert h is not None and h.cmd == cmd
    assert (h.interval, h.timeout, h.retries, h.start_period) == ("90s", "500ms", 5, "40s")


def test_healthcheck_none_and_disable():
    spec, report, _ = imp("""\
    services:
      a: {image: nginx, healthcheck: {test: ["NONE"]}}
      b: {image: nginx, healthcheck: {disable: true}}
    """)
    assert spec.containers["a"].health is None and spec.containers["b"].health is None
    assert kinds(report, "services.a.healthcheck") == ["info"]


def test_depends_on_short_and_long_forms():
    spec, report, _ = imp("""\
    services:
      db:
        image: postgres:16
        healthcheck: {test: ["CMD", "pg_isready"]}
      cache: {image: redis}
      migrate: {image: example.org/app:1, command: migrate}
      app:
        image: example.org/app:1
        depends_on:
          db: {condition: service_healthy}
          cache: {condition: service_healthy}
          migrate: {condition: service_completed_successfully}
      worker:
        image: example.org/app:1
        depends_on: [db, cache]
    """)
    assert spec.containers["app"].requires == ("db", "cache", "migrate")
    assert spec.containers["worker"].requires == ("db", "cache")
    assert finding(report, "cache has no health check").kind == "approximated"
    assert finding(report, "service_completed_successfully").kind == "approximated"
    assert finding(report, "also waits until db is healthy").kind == "info"


def test_command_entrypoint_caps_read_only_labels_restart():
    spec, report, _ = imp("""\
    services:
      web:
        image: example.org/web:1
        command: gunicorn --bind "0.0.0.0:8000" app:wsgi
        entrypoint: /docker-entrypoint.sh
        cap_add: [NET_ADMIN, CAP_SYS_PTRACE]
        cap_drop: [ALL]
        read_only: true
        restart: "no"
        labels:
          io.containers.autoupdate: registry
          traefik.enable: "true"
    """)
    c = spec.containers["web"]
    assert c.command == ("gunicorn", "--bind", "0.0.0.0:8000", "app:wsgi")
    assert c.cap_add == ("NET_ADMIN", "SYS_PTRACE") and c.read_only is True and c.auto_update == "registry"
    assert c.entrypoint == ("/docker-entrypoint.sh",)
    assert c.restart == "no" and not [f for f in report.findings if "restart" in f.where]
    assert finding(report, "labels not carried over: traefik.enable").kind == "dropped"
    assert finding(report, "roost already drops").kind == "info"


def test_environment_list_map_and_pass_through():
    spec, report, _ = imp("""\
    services:
      web:
        image: nginx
        environment:
          - A=1
          - B
          - C
          - EMPTY=
      api:
        image: nginx
        environment:
          N: 5
          T: true
          NULL:
    """, env={"B": "from-shell"})
    assert spec.containers["web"].env == {"A": "1", "B": "from-shell", "EMPTY": ""}
    assert spec.containers["api"].env == {"N": "5", "T": "true"}
    assert finding(report, "C is left out").kind == "info"


def test_env_file_is_kept_relative_to_the_spec():
    # the compose file sits in project/ below the spec's folder: the path is rewritten from the spec's folder;
    # a second env file has no place (a container reads one)
    spec, report, _ = imp("""\
    services:
      web:
        image: nginx
        env_file: [app.env, extra.env]
    """, env_file_prefix="project")
    assert spec.containers["web"].env_file == "project/app.env"
    assert finding(report, "extra.env: a container reads one env file").kind == "dropped"


def test_env_file_inside_the_spec_folder():
    spec, _, _ = imp("services:\n  web:\n    image: nginx\n    env_file: ./conf/app.env\n")
    assert spec.containers["web"].env_file == "conf/app.env"


def test_env_file_outside_the_spec_folder_is_dropped():
    spec, report, _ = imp("services:\n  web:\n    image: nginx\n    env_file: app.env\n", env_file_prefix="..")
    assert spec.containers["web"].env_file is None
    assert finding(report, "must sit in the spec's folder").kind == "dropped"


# -- report cases ----------------------------------------------------------------------------------
def test_build_without_image_is_not_imported_and_dependants_lose_it():
    spec, report, text = imp("""\
    services:
      web:
        build: .
      db:
        image: postgres:16
      worker:
        image: example.org/w:1
        depends_on: [web, db]
    """)
    assert set(spec.containers) == {"db", "worker"}
    assert spec.containers["worker"].requires == ("db",)
    f = finding(report, "`build:` without `image:`")
    assert f.kind == "dropped" and f.line == 3 and "podman build" in f.todo
    assert "# not imported: web: build: without image:" in text


def test_build_with_image_keeps_the_image():
    spec, report, _ = imp("services:\n  web:\n    image: example.org/web:1\n    build: .\n")
    assert spec.containers["web"].image == "example.org/web:1"
    assert finding(report, "`build:` ignored").kind == "review"


def test_only_build_services_is_an_error():
    with pytest.raises(UsageError, match="no service could be imported"):
        imp("services:\n  web:\n    build: .\n")


@pytest.mark.parametrize("key, yaml, text, kind", [
    ("network_mode", "network_mode: host", "network_mode: host dropped", "approximated"),
    ("privileged", "privileged: true", "privileged is not granted", "dropped"),
    ("devices", "devices: [/dev/dri:/dev/dri]", "devices are not passed", "dropped"),
    ("user", "user: 'a b'", "is not a user roost takes", "dropped"),
    ("deploy", "deploy: {placement: {constraints: [x]}}", "`placement` is not modelled", "dropped"),
    ("security_opt", "security_opt: [no-new-privileges:true]", "roost sets no_new_privileges", "info"),
    ("tmpfs", "tmpfs: [/run:uid=5]", "a tmpfs roost takes is", "dropped"),
    ("container_name", "container_name: my-web", "roost names the container", "info"),
])
def test_service_keys_roost_does_not_carry_over_are_reported_with_their_line(key, yaml, text, kind):
    _, report, _ = imp(f"services:\n  web:\n    image: nginx\n    {yaml}\n")
    f = finding(report, text)
    assert f.kind == kind and f.line == 4 and f.where.startswith("services.web")


def test_extra_networks_are_reported():
    _, report, _ = imp("""\
    services:
      web:
        image: nginx
        networks: [front, back]
      db:
        image: postgres:16
        networks:
          back:
            ipv4_address: 10.0.0.5
    networks:
      front:
      back:
        external: true
    """)
    assert finding(report, "2 networks (front, back) become one").line == 10
    assert finding(report, "on 2 networks").line == 4
    assert finding(report, "network setting `ipv4_address`").kind == "dropped"
    assert finding(report, "network options").line == 12


def test_top_level_secrets_configs_and_unknown_keys_are_reported():
    _, report, _ = imp("services:\n  web: {image: nginx}\nsecrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {file: x}\n")
    assert [f.line for f in report.findings if f.where in ("secrets", "configs")] == [3, 5]


def test_profiles_are_skipped_unless_asked_for():
    yaml = """\
    services:
      web: {image: nginx}
      debug: {image: busybox, profiles: [debug]}
    """
    spec, report, _ = imp(yaml)
    assert set(spec.containers) == {"web"}
    assert "--profile debug" in finding(report, "only in profile(s) debug").todo
    spec, _, _ = imp(yaml, profiles=("debug",))
    assert set(spec.containers) == {"web", "debug"}


def test_strict_flag_reads_lossy():
    _, clean, _ = imp("services:\n  web:\n    image: example.org/web:1\n    ports: ['127.0.0.1:80:80']\n")
    assert not clean.lossy
    _, lossy, _ = imp("services:\n  web:\n    image: example.org/web:1\n    privileged: true\n")
    assert lossy.lossy


def test_service_names_become_container_names_and_aliases_on_the_network():
    spec, report, _ = imp("""\
    services:
      My_DB:
        image: postgres:16
        hostname: database
      web:
        image: example.org/web:1
        environment:
          REDIS_URL: redis://cache:6379/0
        links: ["My_DB:legacy-db"]
        networks:
          default:
            aliases: [www]
      cache: {image: redis}
      skipped: {build: ., hostname: never}
    """)
    assert set(spec.containers) == {"my-db", "web", "cache"}
    assert spec.pod.hosts == ()
    assert spec.containers["my-db"].aliases == ("My_DB", "database", "legacy-db")
    assert spec.containers["web"].aliases == ("www",) and spec.containers["cache"].aliases == ()
    assert spec.containers["web"].env == {"REDIS_URL": "redis://cache:6379/0"}  # values stay as written
    assert finding(report, "container named 'my-db'").kind == "info"


def test_app_name_from_the_file_then_the_folder_and_bad_names():
    spec, _, _ = imp("name: My Stack\nservices:\n  web: {image: nginx}\n")
    assert spec.app.name == "my-stack"
    spec, _, _ = imp("services:\n  web: {image: nginx}\n")
    assert spec.app.name == "demo"
    with pytest.raises(UsageError, match="--name"):
        imp("services:\n  web: {image: nginx}\n", name="Bad_Name")


def test_yaml_errors_are_located():
    with pytest.raises(UsageError, match=r"compose.yml:3: not valid YAML"):
        imp("services:\n  web:\n    image: [nginx\n")
    with pytest.raises(UsageError, match="no `services:`"):
        imp("version: '3'\n")


# -- secrets ---------------------------------------------------------------------------------------
COMPOSE_WITH_SHARED_PASSWORD = """\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Tr0ub4dor-3
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=Tr0ub4dor-3 psql -U postgres -c 'select 1'"]
  app:
    image: example.org/app:1
    environment:
      DATABASE_URL: postgres://app:Tr0ub4dor-3@db:5432/app
      DB_PASSWORD: Tr0ub4dor-3
      SMTP_PASSWORD: changeme
      SECRET_KEY_BASE: changeme
      ADMIN_PASSWORD: ""
      SMTP_USER: ""
"""


def test_a_repeated_password_becomes_one_generated_secret_everywhere():
    spec, report, text = imp(COMPOSE_WITH_SHARED_PASSWORD)
    assert "Tr0ub4dor-3" not in text and "Tr0ub4dor-3" not in report.render()
    assert spec.secrets["postgres_password"].generate == 32
    assert spec.containers["db"].env["POSTGRES_PASSWORD"] == "${secrets.postgres_password}"
    assert spec.containers["app"].env["DATABASE_URL"] == "postgres://app:${secrets.postgres_password}@db:5432/app"
    assert spec.containers["app"].env["DB_PASSWORD"] == "${secrets.postgres_password}"
    assert spec.containers["db"].health.cmd == "PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -U postgres -c 'select 1'"
    f = finding(report, "a password the file repeats")
    assert f.line == 5 and "inside DATABASE_URL" in f.did


def test_placeholders_become_secrets_but_outside_credentials_are_left_to_the_user():
    spec, report, _ = imp(COMPOSE_WITH_SHARED_PASSWORD)
    env = spec.containers["app"].env
    assert env["SECRET_KEY_BASE"].startswith("${secrets.")
    assert env["ADMIN_PASSWORD"] == ""  # an empty optional value stays empty
    assert env["SMTP_PASSWORD"] == "changeme" and env["SMTP_USER"] == ""
    assert finding(report, "placeholder for a credential of an outside service").kind == "review"


def test_a_single_real_password_is_left_but_flagged():
    spec, report, _ = imp("services:\n  db:\n    image: postgres:16\n    environment: [POSTGRES_PASSWORD=k8Zq-unique]\n")
    assert spec.containers["db"].env["POSTGRES_PASSWORD"] == "k8Zq-unique" and not spec.secrets
    f = finding(report, "written in the spec in clear")
    assert f.kind == "review" and f.line == 4 and "k8Zq" not in report.render()


def test_non_secret_keys_that_mention_a_password_word_are_not_touched():
    spec, _, _ = imp("""\
    services:
      db:
        image: mariadb
        environment:
          MYSQL_ALLOW_EMPTY_PASSWORD: "yes"
          PASSWORD_FILE: /run/secrets/pw
          POSTGRES_USER: postgres
    """)
    assert not spec.secrets


@pytest.mark.parametrize("yaml", [
    "services:\n  web:\n",
    "services:\n  web: 5\n  ok: {image: nginx}\n",
    "services:\n  web: {image: nginx, ports: [{target: x}], volumes: [5, {type: bind}], healthcheck: {test: 5}}\n",
    "services:\n  web: {image: nginx, environment: [5, null, 'A'], command: 5, entrypoint: [], labels: ['x'], depends_on: 5}\n",
    "services:\n  web: {image: nginx, entrypoint: ['sh', ''], command: 'a \"b'}\n",
    "services:\n  web: {image: nginx, networks: [a, b], cap_add: [5, 'bad cap'], healthcheck: {test: [], interval: foo}}\n",
    "- a\n- b\n",
    "",
    "services: []\n",
    "services:\n  web: {image: nginx, extends: {service: x}, depends_on: {db: null}}\n  db: {image: postgres}\n",
    "services:\n  web: {image: nginx, ports: ['[::1]:80:80', '::1:81:81', 'abc', '70000:80', '1-1000:1-1000']}\n",
    "services:\n  web: {image: nginx, volumes: ['a:b', 'C:\\\\x:/y', ':/z', '/:/host'], env_file: [{path: a.env}]}\n",
    "services:\n  web: {image: nginx, environment: {'1BAD': x, OK: \"l1\\nl2\"}, command: ['a', '']}\n",
    "services:\n  a: {image: nginx, depends_on: [b]}\n  b: {image: nginx, depends_on: [a]}\n",
    "services:\n  A_B: {image: nginx}\n  a-b: {image: nginx}\n  '9x': {image: nginx}\n",
    "services:\n  web: {image: '${IMG}'}\n",
    "services:\n  web: {image: 'NGINX:Latest'}\n  ok: {image: nginx}\n",
])
def test_odd_input_gives_a_valid_spec_or_a_usage_error(yaml):
    try:
        result = import_compose(yaml, "c.yml", {})
    except UsageError as e:
        assert e.message.startswith("c.yml") and e.exit_code == 2
        return
    parse_spec(result.spec)
    assert all(f.line for f in result.report.findings if f.where != "name")


def test_nothing_importable_says_why():
    with pytest.raises(UsageError) as e:
        imp("services:\n  web:\n    build: .\n  api:\n    image: ${IMG}\n")
    assert "compose.yml:3: services.web" in e.value.message and "compose.yml:5: services.api" in e.value.message


def test_a_password_an_env_file_repeats_is_left_as_written():
    yaml = """\
    services:
      db:
        image: postgres:16
        environment: {POSTGRES_PASSWORD: changeme}
      app:
        image: example.org/app:1
        env_file: app.env
        environment: {DB_PASS: changeme}
    """
    files = {"app.env": "DATABASE_URL=postgres://u:changeme@db/app\n"}
    spec, report, _ = imp(yaml, read_env_file=files.get)
    assert spec.containers["db"].env["POSTGRES_PASSWORD"] == "changeme" and not spec.secrets
    assert finding(report, "an env file holds the same value").line == 4
    spec, report, _ = imp(yaml)  # the env file cannot be read: the secret is generated, with a warning
    assert spec.secrets
    assert "not read: app.env" in finding(report, "generated secrets replace values in this file only").did


def test_an_internal_network_is_reported_and_a_bridge_driver_is_not():
    _, report, _ = imp("""\
    services:
      web: {image: nginx, networks: [inner]}
    networks:
      inner:
        driver: bridge
        internal: true
    """)
    assert finding(report, "internal: true is not carried over").line == 6
    assert not [f for f in report.findings if "network options" in f.did]


# -- the report cannot be forged or garbled ------------------------------------------------------------
def test_the_report_is_plain_text_with_control_characters_escaped():
    _, report, _ = imp("""\
    services:
      web:
        image: nginx
        ports: ["\\e[31m:100:\\x07"]
    """)
    text = report.render()
    assert ":100:" in text and "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31m:100:\\x07" in text
    assert all(f.line for f in report.findings)


def test_the_cli_prints_the_report_without_markup(tmp_path):
    from click.testing import CliRunner

    from roost.cli.importer import import_

    (tmp_path / "compose.yml").write_text('services:\n  web:\n    image: nginx\n    ports: [":100:[bold]x"]\n')
    out = CliRunner().invoke(import_, [str(tmp_path / "compose.yml"), "--name", "web"])
    assert ":100:" in out.output and "💯" not in out.output and "[bold]x" in out.output


@pytest.mark.parametrize("folders, want", [
    ("shop/docker", "shop"), ("paperless/docker/compose", "paperless"), ("notes", "notes"), ("docker", "app")])
def test_the_app_is_not_named_after_a_generic_folder(folders, want):
    from pathlib import PurePosixPath

    from roost.cli.importer import default_name

    assert default_name(PurePosixPath("/") / folders) == want  # type: ignore[arg-type]


# -- command and entrypoint ------------------------------------------------------------------------
def test_a_folded_command_item_loses_only_the_newline_yaml_adds():
    spec, _, _ = imp("""\
    services:
      web:
        image: busybox
        entrypoint: [bash, -c]
        command:
          - >
            echo hello && exec sleep 1000
    """)
    assert spec.containers["web"].command == ("echo hello && exec sleep 1000",)
    assert spec.containers["web"].entrypoint == ("bash", "-c")


@pytest.mark.parametrize("body", [
    "entrypoint: [bash, -c]\n    command: ['', x]",
    "entrypoint: sh\n    command: [\"-c\", \"a\\nb\\nc\"]",
    "command: [run]\n    entrypoint: [\"\"]",
])
def test_an_entrypoint_whose_command_was_dropped_is_never_kept(body):
    yaml = "services:\n  web:\n    image: busybox\n    " + body + "\n  db:\n    image: postgres\n"
    spec, report, _ = imp(yaml)
    assert "web" not in spec.containers
    assert finding(report, "service not imported").kind == "dropped"


# -- 17.7: the importing shell, binds ---------------------------------------------------------------
def test_each_value_from_the_importing_shell_is_a_finding_with_its_line():
    yaml = """\
    services:
      web:
        image: nginx
        environment:
          - GITHUB_TOKEN=${GITHUB_TOKEN}
          - HOME_DIR
          - FROM_DOTENV
    """
    env = {"GITHUB_TOKEN": "ghp_x", "HOME_DIR": "/root", "FROM_DOTENV": "1"}
    _, report, _ = imp(yaml, env, shell=frozenset({"GITHUB_TOKEN", "HOME_DIR"}))
    shell = sorted((f.line, f.did.split(":")[0]) for f in report.findings if f.where == "(environment)")
    assert shell == [(5, "${GITHUB_TOKEN}"), (6, "${HOME_DIR}")]
    assert report.lossy  # --strict refuses it


def test_binds_never_fill_allow_host_paths_and_system_paths_are_dropped_with_advice():
    spec, report, text = imp("""\
    services:
      web:
        image: nginx
        volumes:
          - /etc/localtime:/etc/localtime:ro
          - /var/lib/docker:/docker
          - ~/.ssh:/root/.ssh
          - /srv/media:/media
    """)
    assert spec.app.allow_host_paths == () and "allow_host_paths =" not in text
    tz = finding(report, "/etc/localtime is not mounted")
    assert tz.kind == "dropped" and tz.line == 5 and "TZ" in tz.todo
    assert finding(report, "/var/lib/docker is not mounted").kind == "dropped"
    media = finding(report, "host path /srv/media is not mounted")
    assert media.line == 8 and '"/srv/media" to app.allow_host_paths' in media.todo
    assert all(v.split(":")[0] != "/srv/media" for v in spec.containers["web"].volumes)


def test_a_dotenv_link_is_not_read(tmp_path):
    from click.testing import CliRunner

    from roost.cli.importer import import_

    secret = tmp_path / "other-app.env"
    secret.write_text("TAG=secret-of-another-app\n")
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".env").symlink_to(secret)
    (project / "compose.yml").write_text("services:\n  web:\n    image: nginx:${TAG}\n")
    out = CliRunner().invoke(import_, [str(project / "compose.yml")])
    assert isinstance(out.exception, UsageError) and out.exception.exit_code == 2
    assert "is a symbolic link: not read" in out.exception.message and "secret-of-another-app" not in out.output


# -- secrets by role -------------------------------------------------------------------------------
MINIO = """\
services:
  minio:
    image: minio/minio
    environment:
      MINIO_ROOT_USER: minioadmin
      MINIO_ROOT_PASSWORD: minioadmin
  app:
    image: example.org/app:1
    environment:
      AWS_ACCESS_KEY_ID: minioadmin
      AWS_SECRET_ACCESS_KEY: minioadmin
      SMTP_PASSWORD: mailpass-1
      SMTP_PASS: mailpass-1
      OAUTH_CLIENT_SECRET: changeme
      SECRET_KEY_BASE: changeme
      OPTIONAL_TOKEN: ""
"""


def test_secrets_follow_the_role_not_the_value():
    spec, report, _ = imp(MINIO)
    minio, app = spec.containers["minio"].env, spec.containers["app"].env
    # user names stay; the MinIO password and the app's S3 secret for it stay one secret
    assert minio["MINIO_ROOT_USER"] == "minioadmin" and app["AWS_ACCESS_KEY_ID"] == "minioadmin"
    assert minio["MINIO_ROOT_PASSWORD"] == app["AWS_SECRET_ACCESS_KEY"] == "${secrets.minio_root_password}"
    # outside credentials are never generated, even repeated; empty optional values stay empty
    assert app["SMTP_PASSWORD"] == app["SMTP_PASS"] == "mailpass-1"
    assert app["OAUTH_CLIENT_SECRET"] == "changeme" and app["OPTIONAL_TOKEN"] == ""
    # the app's own secret gets the length its role needs (Phoenix/Rails: 64)
    assert app["SECRET_KEY_BASE"] == "${secrets.secret_key_base}" and spec.secrets["secret_key_base"].generate == 64
    assert spec.secrets["minio_root_password"].generate == 32
    f = finding(report, "generated secret ${secrets.minio_root_password}")
    assert "(line 6)" in f.did and "(line 11)" in f.did


def test_a_database_password_written_once_is_kept_with_a_finding():
    spec, report, _ = imp("services:\n  db:\n    image: postgres:16\n    environment: [POSTGRES_PASSWORD=postgres]\n"
                          "  app:\n    image: example.org/app:1\n")
    assert spec.containers["db"].env["POSTGRES_PASSWORD"] == "postgres" and not spec.secrets
    f = finding(report, "a default password, written once, is kept")
    assert f.kind == "review" and f.line == 4


def test_each_env_file_line_compose_reads_otherwise_is_a_finding_on_that_line():
    files = {"web.env": 'PLAIN=1\nmail__from="Shop <shop@example.org>"\nURL=http://${HOST}/x\nexport FOO=1\n'}
    _, report, _ = imp("services:\n  web:\n    image: nginx\n    env_file: web.env\n",
                       {"HOST": "example.org"}, read_env_file=files.get)
    found = {f.line: f for f in report.findings if f.file == "web.env"}
    assert sorted(found) == [2, 3, 4]
    assert "refuses" in found[4].did and "mail__from" in found[2].did
    assert found[3].render("compose.yml").startswith("web.env:3: ")


# -- nothing silently lost -------------------------------------------------------------------------
@pytest.mark.parametrize("yaml, want, kind", [
    ("restart: always", "always", None),
    ("restart: on-failure:3", "on-failure", "approximated"),
    ("restart: unless-stopped", "always", "approximated"),
    ("deploy: {restart_policy: {condition: on-failure}}", "on-failure", None),
    ("deploy: {restart_policy: {condition: none, delay: 5s}}", "no", "approximated"),
    ("environment: [A=1]", "no", "review"),  # no restart: compose's default is no
])
def test_restart_policies(yaml, want, kind):
    spec, report, _ = imp(f"services:\n  web:\n    image: nginx\n    {yaml}\n")
    assert spec.containers["web"].restart == want
    kinds_ = {f.kind for f in report.findings if "restart" in f.did or "restart" in f.where}
    assert kinds_ == ({kind} if kind else set())


@pytest.mark.parametrize("yaml, want", [
    ("mem_limit: 512m", {"memory": "512m"}),
    ("mem_limit: 1gb\n    cpus: 1.5\n    pids_limit: 100", {"memory": "1g", "cpus": 1.5, "pids": 100}),
    ("cpus: '0.25'", {"cpus": 0.25}),
    ("deploy: {resources: {limits: {memory: 2G, cpus: '2', pids: 300}}}", {"memory": "2g", "cpus": 2.0, "pids": 300}),
    ("pids_limit: -1", {}),
])
def test_each_compose_form_of_limits(yaml, want):
    spec, report, _ = imp(f"services:\n  web:\n    image: nginx\n    restart: always\n    {yaml}\n")
    limits = spec.containers["web"].limits
    assert {k: v for k, v in limits.model_dump().items() if v is not None} == want
    assert not [f for f in report.findings if f.kind == "dropped"]


def test_limits_that_are_not_sizes_are_reported():
    spec, report, _ = imp("services:\n  web:\n    image: nginx\n    mem_limit: lots\n"
                          "    deploy: {resources: {reservations: {memory: 1g}}}\n")
    assert spec.containers["web"].limits.memory is None
    assert finding(report, "'lots' is not a memory size").line == 4
    assert finding(report, "`reservations` is not modelled").line == 5


def test_health_check_takes_composes_defaults():
    spec, _, _ = imp("services:\n  web:\n    image: nginx\n    healthcheck:\n      test: [CMD, curl, -f, http://x]\n")
    h = spec.containers["web"].health
    assert (h.interval, h.timeout, h.retries, h.start_period) == ("30s", "30s", 3, "0s")


def test_interpolated_booleans_user_and_tmpfs():
    spec, _, _ = imp("""\
    services:
      web:
        image: nginx
        read_only: ${RO}
        user: "1000:1000"
        tmpfs: [/run, "/cache:size=64m"]
        volumes:
          - type: tmpfs
            target: /scratch
            tmpfs: {size: 10m, mode: 1777}
    """, {"RO": "true"})
    c = spec.containers["web"]
    assert c.read_only is True and c.user == "1000:1000"
    assert set(c.tmpfs) == {"/run", "/cache:size=64m", "/scratch:size=10m,mode=1777"}


def test_bind_propagation_is_a_finding():
    _, report, _ = imp("""\
    services:
      web:
        image: nginx
        volumes:
          - ./a:/a:rshared
          - type: bind
            source: ./b
            target: /b
            bind: {propagation: rslave}
    """)
    assert finding(report, "bind propagation 'rshared'").line == 5
    assert finding(report, "bind propagation 'rslave'").kind == "dropped"


def test_extends_in_the_same_file_is_merged_and_from_another_file_reported():
    spec, report, _ = imp("""\
    services:
      base:
        image: example.org/app:1
        environment: {A: "1", B: "2"}
        ports: ["8080:80"]
      worker:
        extends: base
        environment: [B=3]
        command: [work]
      other:
        extends: {file: common.yml, service: x}
        image: nginx
    """)
    w = spec.containers["worker"]
    assert w.image == "example.org/app:1" and w.env == {"A": "1", "B": "3"} and w.command == ("work",)
    assert finding(report, "extends a service of another file").kind == "dropped"


def test_compose_profiles_and_project_name_in_dotenv(tmp_path):
    from click.testing import CliRunner

    from roost.cli.importer import import_

    (tmp_path / ".env").write_text("COMPOSE_PROFILES=extra\nCOMPOSE_PROJECT_NAME=shop\n")
    (tmp_path / "compose.yml").write_text("services:\n  web: {image: nginx}\n"
                                          "  tool: {image: busybox, profiles: [extra]}\n")
    out = CliRunner().invoke(import_, [str(tmp_path / "compose.yml")])
    assert out.exit_code == 0, out.output
    assert 'name = "shop"' in out.output and "[containers.tool]" in out.output


def test_udp_is_published_on_every_address_with_the_firewall_rule():
    spec, report, _ = imp("services:\n  vpn:\n    image: example.org/wg:1\n    ports: ['51820:51820/udp', '8080:80']\n")
    assert spec.containers["vpn"].publish == ("0.0.0.0:51820:51820/udp", "127.0.0.1:8080:80")
    assert "udp dport 51820 accept" in finding(report, "UDP port 51820").todo


def test_dotted_env_names_are_a_finding():
    spec, report, _ = imp("services:\n  web:\n    image: nginx\n    environment: {spring.datasource.url: x}\n")
    assert "spring.datasource.url" not in spec.containers["web"].env
    assert finding(report, "'spring.datasource.url' dropped").line == 4


def test_a_file_where_nothing_updates_itself_says_so_and_one_with_the_label_does_not():
    """Found by running Miniflux, Synapse and Node-RED: an imported app is left alone by `roost update` and the
    nightly timer (compose pulls on `up`; roost moves only containers with auto_update). The report says so."""
    _, report, _ = imp("""
    services:
      web: {image: example.org/web:1}
      db: {image: postgres:16}
    """)
    f = finding(report, "no service updates itself")
    assert f.kind == "review" and f.where == "services" and f.line == 2 and 'auto_update = "registry"' in f.todo
    _, report, _ = imp("""
    services:
      web:
        image: example.org/web:1
        labels: [io.containers.autoupdate=registry]
      db: {image: postgres:16}
    """)
    assert not [f for f in report.findings if "updates itself" in f.did]


def test_a_health_test_that_runs_curl_or_wget_is_flagged_for_review():
    """Issue 19: a test may call a tool the image lacks (the container then never gets healthy); the importer cannot
    see the image, so it says so. The app's own binary or pg_isready is not flagged."""
    _, report, _ = imp("""
    services:
      web:
        image: example.org/web:1
        healthcheck: {test: ["CMD-SHELL", "curl -fsS http://localhost:8080/health || exit 1"]}
      api:
        image: example.org/api:1
        healthcheck: {test: ["CMD", "/usr/bin/wget", "-q", "-O-", "http://127.0.0.1/"]}
      db:
        image: postgres:16
        healthcheck: {test: ["CMD", "pg_isready", "-U", "app"]}
    """)
    web = finding(report, "the test runs `curl`")
    assert web.kind == "review" and web.where == "services.web.healthcheck.test" and "command -v curl" in web.todo
    assert finding(report, "the test runs `wget`").where == "services.api.healthcheck.test"
    assert not [f for f in report.findings if f.where.startswith("services.db.healthcheck")]
