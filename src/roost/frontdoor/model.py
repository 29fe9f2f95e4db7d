"""The `[web]` section of a spec: the app's domain names, the published port they reach, TLS.

Self-contained (no import of roost.spec.model, which imports this) so the two stay acyclic."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

# RFC 1123 host names, lower case: labels of letters, digits and inner '-', a top-level label not all digits
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`|~-]{1,64}@[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\Z")
# a response header name Caddy sets as written (a leading - + > ? would change what Caddy does with it)
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}\Z")
# a size Caddy's request_body max_size reads (go-humanize): 10MB, 512KiB, 1GB
SIZE_RE = re.compile(r"^[1-9][0-9]{0,11}(?:B|KB|MB|GB|KiB|MiB|GiB)?\Z")


def check_domain(value: str) -> str:
    if value != value.lower():
        raise ValueError(f"{value!r} must be written in lower case")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(LABEL_RE.match(x) for x in labels):
        raise ValueError(f"{value!r} is not a domain name like app.example.org (letters, digits, '-', dots; "
                         "no wildcard, scheme, port or path)")
    if labels[-1].isdigit():
        raise ValueError(f"{value!r} is an IP address, not a domain name")
    return value


def check_header_value(value: str) -> str:
    """What the site file can carry as one quoted token that means exactly itself."""
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ValueError(f"contains the control character {ch!r}")
    for ch in "{}\\`":  # {...} are Caddy placeholders, \ and ` change the lexer's quoting
        if ch in value:
            raise ValueError(f"{value!r} must not contain {ch!r}")
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > 1024:
        raise ValueError("is longer than 1024 characters")
    return value


class Web(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domains: tuple[str, ...] = Field(description="names the app answers to")
    port: StrictInt | None = Field(None, ge=1, le=65535, description="a host port from pod.publish")
    tls: Literal["acme", "internal", "off"] = "acme"
    email: str | None = None
    hsts: StrictBool = True
    headers: dict[str, str] = Field(default_factory=dict)
    max_body: str | None = None

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError('give at least one domain, e.g. domains = ["notes.example.org"]')
        for d in v:
            check_domain(d)
        if len(set(v)) != len(v):
            raise ValueError("a domain is listed twice")
        return v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL_RE.match(v):
            raise ValueError(f"{v!r} is not an email address like admin@example.org")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        seen = set()
        for name, value in v.items():
            if not HEADER_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a header name like X-Frame-Options")
            if name.lower() in seen:
                raise ValueError(f"header {name!r} is given twice")
            seen.add(name.lower())
            try:
                check_header_value(value)
            except ValueError as e:
                raise ValueError(f"header {name}: {e}") from None
        return v

    @field_validator("max_body")
    @classmethod
    def _max_body(cls, v: str | None) -> str | None:
        if v is not None and not SIZE_RE.match(v):
            raise ValueError(f"{v!r} is not a size like 10MB, 512KiB or 1GB")
        return v

    @model_validator(mode="after")
    def _acme_email(self) -> Web:
        if self.tls == "acme" and self.email is None:
            raise ValueError('tls = "acme" needs `email` (the contact the certificate authority writes to about '
                             'expiry and revocation); or use tls = "internal" for a lab or an intranet')
        if self.tls == "off" and self.hsts and "hsts" in self.model_fields_set:
            raise ValueError('hsts needs HTTPS: it cannot be set with tls = "off"')
        return self

    @property
    def scheme(self) -> str:
        return "http" if self.tls == "off" else "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.domains[0]}/"
