"""The lab's real-app images: registry remaps, which images a spec needs, `lab try`'s low ports (pure parts)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from roost.lab import apps, trying, upstream

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"


def test_remaps_send_every_upstream_name_the_examples_use_to_the_lab_registry():
    conf = tomllib.loads(upstream.remaps("127.0.0.1:5000"))
    located = {r["prefix"]: r["location"] for r in conf["registry"]}
    assert all(r["insecure"] for r in conf["registry"])
    assert located["docker.io/miniflux/miniflux"] == "127.0.0.1:5000/upstream/miniflux"
    assert located["docker.io/library/postgres"] == "127.0.0.1:5000/upstream/postgres"
    for name in ("miniflux", "node-red", "synapse"):
        spec = tomllib.loads((EXAMPLES / name / "roost-spec.toml").read_text())
        for c in spec["containers"].values():
            repo = c["image"].rsplit(":", 1)[0]
            assert any(repo == p or repo.startswith(p + "/") for p in located), f"{name}: {c['image']} is not remapped"


def test_needed_names_the_apps_and_postgres_a_spec_uses():
    spec = tomllib.loads((EXAMPLES / "miniflux" / "roost-spec.toml").read_text())
    assert apps.needed(spec) == ["miniflux", "postgres"]
    assert apps.needed({"containers": {"x": {"image": "127.0.0.1:5000/roost-lab/notes:1"}}}) == []


def test_postgres_tags_cover_the_examples():
    for name in ("miniflux", "synapse"):
        spec = tomllib.loads((EXAMPLES / name / "roost-spec.toml").read_text())
        tags = {c["image"].rsplit(":", 1)[1] for c in spec["containers"].values() if "postgres" in c["image"]}
        assert tags <= set(upstream.POSTGRES_TAGS), name


def test_lift_low_ports_moves_only_ports_below_1024():
    text = '[pod]\npublish = ["127.0.0.1:80:8080", "127.0.0.1:1880:1880", "443:443/tcp"] # note\n'
    lifted, moved = trying.lift_low_ports(text)
    assert tomllib.loads(lifted)["pod"]["publish"] == ["127.0.0.1:8080:8080", "127.0.0.1:1880:1880", "8443:443/tcp"]
    assert moved == ["host port 80 published as 8080", "host port 443 published as 8443"]
    assert trying.lift_low_ports('[app]\nname = "x"\n') == ('[app]\nname = "x"\n', [])


def test_lift_low_ports_moves_each_containers_own_ports_on_an_app_network():
    text = ('[network]\n\n[containers.web]\nimage = "x"\npublish = ["127.0.0.1:80:8080"]\n\n'
            '[containers.db]\nimage = "y"\n\n[containers.dns]\nimage = "z"\npublish = ["53:53/udp", "8053:53"]\n')
    lifted, moved = trying.lift_low_ports(text)
    containers = tomllib.loads(lifted)["containers"]
    assert containers["web"]["publish"] == ["127.0.0.1:8080:8080"]
    assert containers["dns"]["publish"] == ["8053:53/udp", "8053:53"]
    assert "publish" not in containers["db"]
    assert moved == ["host port 80 published as 8080", "host port 53 published as 8053"]
