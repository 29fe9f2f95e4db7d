"""`roost run`: a container of an applied app once, with the options its unit has (render/oneoff.py)."""

from __future__ import annotations

import pytest

from roost.layout import Layout
from roost.render import oneoff
from roost.render.desired import container_entries
from roost.spec.load import parse_spec

SPEC = """
[app]
name = "chat"
uid = 2300

[network]

[secrets]
db_password = { generate = 32 }

[containers.db]
image = "example.org/postgres:17"
env = { POSTGRES_PASSWORD = "${secrets.db_password}", POSTGRES_USER = "chat" }
volumes = ["db:/var/lib/postgresql/data:Z"]
health = { cmd = "pg_isready" }

[containers.server]
image = "example.org/synapse:1"
requires = ["db"]
publish = ["127.0.0.1:8448:8448"]
volumes = ["files:/data:Z"]
env = { SYNAPSE_CONFIG_PATH = "/data/homeserver.yaml" }
user = "991:991"
read_only = true
tmpfs = ["/run/app"]
cap_add = ["NET_BIND_SERVICE"]
entrypoint = ["/start.sh"]
command = ["run"]
health = { http = "http://localhost:8008/health" }
auto_update = "registry"

[containers.sidecar]
image = "example.org/tools:1"
share_network_with = "server"
"""


@pytest.fixture
def spec():
    return parse_spec(SPEC, "chat.toml")


def test_a_one_off_gets_the_services_environment_volumes_and_network_not_its_name_ports_or_labels(spec):
    layout = Layout("chat", "/home/chat")
    argv = oneoff.run_argv(spec, layout, "server", True, ("generate",), ("SYNAPSE_SERVER_NAME=chat.example.org",))
    assert argv[:3] == ["podman", "run", "--rm"] and argv[-2:] == ["example.org/synapse:1", "generate"]
    opts = " ".join(argv)
    assert f"--env-file {layout.env_file('server')}" in opts
    assert f"--volume {spec.host_path('files')}:/data:Z" in opts
    assert "--network chat " in opts and "--user 991:991" in opts and "--read-only" in opts
    assert "--tmpfs /run/app" in opts and "--entrypoint [\"/start.sh\"]" in opts
    assert "--env SYNAPSE_SERVER_NAME=chat.example.org" in opts
    assert "--cap-add NET_BIND_SERVICE" in opts and "--security-opt no-new-privileges" in opts
    name = argv[argv.index("--name") + 1]
    assert name.startswith("chat-server-run-") and name != "chat-server"
    for absent in ("8448", "--label", "io.roost", "--health", "--publish", "autoupdate", "--network-alias"):
        assert absent not in opts, absent
    # without a command: the service's own
    assert oneoff.run_argv(spec, layout, "server", True)[-2:] == ["example.org/synapse:1", "run"]


def test_secrets_reach_a_one_off_as_podman_secrets_never_as_values(spec):
    argv = oneoff.run_argv(spec, Layout("chat", "/home/chat"), "db", False, ("psql",))
    opts = " ".join(argv)
    assert "--secret" in opts and "target=POSTGRES_PASSWORD" in opts and "--env-file" not in opts
    assert "${secrets" not in opts


def test_a_container_in_anothers_namespace_or_the_pod_joins_it():
    spec = parse_spec(SPEC, "chat.toml")
    argv = oneoff.run_argv(spec, Layout("chat", "/home/chat"), "sidecar", False, ("sh",))
    assert argv[argv.index("--network") + 1] == "container:chat-server"
    pod = parse_spec('[app]\nname = "notes"\n[pod]\npublish = ["127.0.0.1:8080:3000"]\n'
                     '[containers.web]\nimage = "example.org/notes:1"\n', "notes.toml")
    argv = oneoff.run_argv(pod, Layout("notes", "/home/notes"), "web", False, ("sh",))
    assert argv[argv.index("--pod") + 1] == "notes" and "8080" not in " ".join(argv)


def test_every_unit_key_a_container_can_have_is_carried_or_left_out_on_purpose(spec):
    """The fan-out rule for `roost run`: a new [Container] key fails here until oneoff.py says what it does."""
    import inspect
    import re

    from roost.render import desired

    written = set(re.findall(r'\("([A-Z][A-Za-z]+)",', inspect.getsource(desired.container_entries) +
                             inspect.getsource(desired._namespace)))
    handled = {*oneoff.SAME, *oneoff.LEFT_OUT, "Image", "Exec", "Network", "Pod", "NoNewPrivileges",
               "DropCapability", "AddCapability", "ReadOnly"}
    unit_lines = {"After", "PartOf", "Requires"}  # [Unit] lines of _namespace, not options of the container
    assert written and written - handled - unit_lines == set()
    used = {e[0] for name, c in spec.containers.items()
            for e in container_entries(spec, Layout("chat", "/home/chat"), name, c, True)[0] if e is not None}
    assert used <= written  # the source scan sees every key the renderer wrote here
