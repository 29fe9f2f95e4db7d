"""Names as Kubernetes accepts them (RFC 1123), and the labels every exported object carries.

roost's own names are already close (app and container names are lower-case letters, digits and
'-'); secret names may hold '_', which no object name may."""

from __future__ import annotations

import hashlib
import re

MANAGED_BY = "roost"


def dns_label(text: str, limit: int = 63) -> str:
    """`text` made an RFC 1123 label: lower case, '_' and other characters to '-', cut to `limit`
    with a short hash of the whole so that two long names stay apart."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(name) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        name = name[: limit - 7].rstrip("-") + "-" + digest
    return name


def object_name(*parts: str) -> str:
    """An object name from roost names joined with '-' (a label, which every kind accepts)."""
    return dns_label("-".join(parts))


def port_name(proto: str, port: int) -> str:
    """A container port's name: `tcp-3000` (IANA service name: at most 15 characters, has a letter)."""
    return f"{proto}-{port}"


def labels(app: str) -> dict[str, str]:
    """The recommended labels (app.kubernetes.io/*) every exported object carries."""
    return {
        "app.kubernetes.io/name": dns_label(app),
        "app.kubernetes.io/part-of": dns_label(app),
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(app: str) -> dict[str, str]:
    """What a Service or workload selects the app's pod by."""
    return {"app.kubernetes.io/name": dns_label(app)}


def secret_env_var(secret: str) -> str:
    """The helper variable a cluster expands `$(VAR)` from: ROOST_SECRET_DB_PASSWORD."""
    return "ROOST_SECRET_" + re.sub(r"[^A-Z0-9_]", "_", secret.upper())
