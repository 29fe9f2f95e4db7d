"""Ports, networks and names: network_mode, published ports, shared namespaces, host names."""

from __future__ import annotations

import re

from roost.compose.convert.base import ConverterBase
from roost.compose.convert.draft import SpecDraft
from roost.compose.load import YMap, YSeq
from roost.spec.model import HOST_NAME_RE

LOCALHOST = "127.0.0.1"
MAX_RANGE = 100  # port ranges are expanded one mapping a port; refuse silly ones


class NetworkMixin(ConverterBase):
    """network_mode and networks per service, published ports, shared namespaces, host names."""

    def _network(self, svc: str, body: YMap) -> None:
        where = f"services.{svc}"
        mode = body.get("network_mode")
        if mode is not None:
            if mode == "host":
                self.add("approximated", body.at("network_mode"), f"{where}.network_mode",
                         "network_mode: host dropped: the container runs on the app's network; it sees only the "
                         "ports it publishes",
                         "publish the ports it serves in its `publish` (it cannot see the host's interfaces)")
            elif isinstance(mode, str) and mode.startswith("service:"):
                self.shares[svc] = mode.removeprefix("service:")
            else:
                self.add("approximated", body.at("network_mode"), f"{where}.network_mode",
                         f"network_mode: {mode} dropped: the container joins the app's network")
        nets = body.get("networks")
        count = len(nets.items) if isinstance(nets, (YMap, YSeq)) else 0
        if count > 1:
            self.add("approximated", body.at("networks"), f"{where}.networks",
                     f"on {count} networks: roost gives the app one network shared by every container",
                     "if the app must reach containers of another app, go through that app's published port")
        if isinstance(nets, YMap):
            for net, nbody in nets.items.items():
                if isinstance(nbody, YMap):
                    for k in nbody.items:
                        if k != "aliases":
                            self.add("dropped", nbody.at(k), f"{where}.networks.{net}.{k}",
                                     f"network setting `{k}` is not modelled")

    def _ports(self, svc: str, cname: str, body: YMap, draft: SpecDraft) -> None:
        where = f"services.{svc}.ports"
        ports = body.get("ports")
        mappings: list[tuple[str | None, str | None, str, str, int]] = []  # ip, host, container, proto, line
        if isinstance(ports, YSeq):
            for i, item in enumerate(ports.items):
                line = ports.at(i)
                if isinstance(item, YMap):
                    target = item.get("target")
                    published = item.get("published")
                    mappings.append((item.get("host_ip"), None if published is None else str(published),
                                     str(target), str(item.get("protocol") or "tcp"), line))
                    continue
                parsed = _parse_port(str(item))
                if parsed is None:
                    self.add("dropped", line, where, f"{item!r} is not a port mapping")
                    continue
                mappings.append((*parsed, line))
        expose = body.get("expose")
        if isinstance(expose, YSeq):
            self.add("info", body.at("expose"), f"services.{svc}.expose",
                     "dropped: containers reach each other's ports by name on the app's network")
        for ip, host, ctr, proto, line in mappings:
            if proto not in ("tcp", "udp"):
                self.add("dropped", line, where, f"protocol {proto} is not supported (tcp, udp)")
                continue
            try:
                ctr_ports = _port_range(ctr)
                host_ports = _port_range(host) if host else ctr_ports
            except ValueError as e:
                self.add("dropped", line, where, f"{e}")
                continue
            if len(host_ports) != len(ctr_ports) or len(ctr_ports) > MAX_RANGE:
                self.add("dropped", line, where, f"port range {host}:{ctr} not imported",
                         "list the ports one by one in the container's publish")
                continue
            if not host:
                self.add("approximated", line, where,
                         f"container port {ctr} had no host port (compose picks a random one): published on {ctr}",
                         "change the host port in the container's publish if it is taken")
            if ip in (None, "") and proto == "udp":  # clients reach it directly: no HTTP proxy can stand in front
                addr = "0.0.0.0"
                self.add("review", line, where,
                         f"UDP port {host or ctr} published on every address, as the compose file does",
                         f"let it through the host's firewall (nft add rule inet filter input udp dport {host or ctr} "
                         f"accept, or ufw allow {host or ctr}/udp)")
            elif ip in (None, ""):
                addr = LOCALHOST
                draft.publish_notes = ["127.0.0.1 where the compose file named no address"]
                self.add("approximated", line, where,
                         "published on 127.0.0.1 only (the compose file listens on every address)",
                         "put a reverse proxy in front, or write 0.0.0.0:HOST:CONTAINER in the container's publish")
            else:
                addr = str(ip)
                if addr.startswith("[") is False and ":" in addr:
                    addr = f"[{addr}]"
                if addr not in (LOCALHOST, "[::1]"):
                    self.add("review", line, where, f"published on {addr} as the compose file says",
                             f"the host's firewall must let {host or ctr}/{proto} in; for a web app 127.0.0.1 with "
                             "a reverse proxy in front is safer")
            for hp, cp in zip(host_ports, ctr_ports, strict=False):
                entry = f"{addr}:{hp}:{cp}" + ("" if proto == "tcp" else f"/{proto}")
                clash = next((p for p in draft.publish if _host_key(p) == (hp, proto)), None)
                if clash:
                    self.add("dropped", line, where, f"host port {hp}/{proto} is already published ({clash})",
                             "pick another host port")
                    continue
                if not _valid_ip(addr):
                    self.add("dropped", line, where, f"{addr} is not an IP address roost can publish on")
                    continue
                draft.publish.append(entry)
                draft.own_publish.setdefault(cname, []).append(entry)
                if hp < 1024:
                    self.add("review", line, where, f"host port {hp} is below 1024",
                             "a rootless pod can publish it only if net.ipv4.ip_unprivileged_port_start allows; "
                             "`roost doctor` checks it, or pick a port >= 1024 behind a reverse proxy")

    def share_namespaces(self, names: dict[str, str], draft: SpecDraft) -> None:
        """network_mode: "service:X" -> share_network_with X; what it published moves to X."""
        for svc, other in self.shares.items():
            c = names.get(svc)
            if c not in draft.containers:
                continue
            line = draft.containers[c].line
            target = names.get(other)
            if target not in draft.containers or other in self.shares:
                self.add("dropped", line, f"services.{svc}.network_mode",
                         f"service:{other} is not an imported service with a network namespace of its own: "
                         "the container gets its own", "check which service it must share localhost with")
                continue
            draft.shares[c] = target
            moved = draft.own_publish.pop(c, [])
            draft.own_publish.setdefault(target, []).extend(moved)
            for entry in moved:
                self.add("info", line, f"services.{svc}.ports",
                         f"{entry} is published by {target}, whose network namespace {c} shares")

    def name_hosts(self, draft: SpecDraft) -> None:
        """Service names (and hostnames, aliases, links) resolve to 127.0.0.1 in the pod, as they resolved to
        the service on compose's network: containers of one pod share localhost."""
        imported = {c.service for c in draft.containers.values()}
        wanted = {h for svc, names in self.hosts.items() if svc in imported for h in names}
        good = sorted(h for h in wanted if HOST_NAME_RE.match(h) and h.lower() != "localhost")
        by_name = {c.service: n for n, c in draft.containers.items()}
        for svc, names in sorted(self.hosts.items()):  # compose's names for a service: the container's aliases
            owner = by_name.get(svc)
            if owner is not None:
                owner = draft.shares.get(owner, owner)  # a sharer is found at the namespace it joins
                extra = sorted(h for h in names if h in good and h != owner)
                draft.aliases[owner] = sorted({*draft.aliases.get(owner, []), *extra})
        bad = sorted(wanted - set(good))
        if bad:
            self.add("dropped", self.tree.at("services"), "services",
                     f"names that cannot be host names, so they do not resolve on the app's network: "
                     f"{', '.join(bad)}", "refer to those services by their container names")


_PORT_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+|[0-9A-Fa-f:]+::[0-9A-Fa-f:]*):)??"
    r"(?:(?P<host>[0-9]+(?:-[0-9]+)?)?:)?(?P<ctr>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?$"
)


def _parse_port(text: str) -> tuple[str | None, str | None, str, str] | None:
    text = text.strip()
    if text.startswith(":") and text.count(":") == 2:  # ":8080:80": an empty address is every address
        text = text[1:]
    m = _PORT_RE.match(text)
    if not m:
        return None
    return m.group("ip"), m.group("host"), m.group("ctr"), m.group("proto") or "tcp"


def _port_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        raise ValueError(f"{text!r} is not a port")
    a, b = int(lo), int(hi or lo)
    if not (1 <= a <= b <= 65535):
        raise ValueError(f"port {text} is out of range 1-65535")
    return list(range(a, b + 1))


def _host_key(entry: str) -> tuple[int, str]:
    body, _, proto = entry.partition("/")
    return int(body.rsplit(":", 2)[-2]), proto or "tcp"


def _valid_ip(addr: str) -> bool:
    import ipaddress

    try:
        if addr.startswith("["):
            ipaddress.IPv6Address(addr[1:-1])
        else:
            ipaddress.IPv4Address(addr)
    except ValueError:
        return False
    return True
