"""Which certificate Caddy holds for a domain and until when: for `roost status` and `roost doctor`.

Caddy keeps them in its storage, <issuer>/<domain>/<domain>.crt. The validity is read from the
certificate itself with a few lines of DER walking (no crypto library: nothing is verified here)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from roost.host.runner import Host

STORAGE = "/var/lib/caddy/.local/share/caddy"
CERTS_DIR = f"{STORAGE}/certificates"
ISSUERS = {  # Caddy's storage folder -> who issued it
    "local": "internal CA",
    "acme-v02.api.letsencrypt.org-directory": "Let's Encrypt",
    "acme.zerossl.com-v2-dv90": "ZeroSSL",
    "acme-staging-v02.api.letsencrypt.org-directory": "Let's Encrypt staging",
}


@dataclass(frozen=True)
class Cert:
    domain: str
    issuer: str
    not_before: datetime
    not_after: datetime

    def overdue(self, now: datetime) -> bool:
        """Caddy renews with a third of the lifetime left; under a sixth, renewal has been failing."""
        return self.not_after - now < (self.not_after - self.not_before) / 6

    def describe(self, now: datetime) -> str:
        if now >= self.not_after:
            return f"expired {self.not_after:%Y-%m-%d %H:%M} UTC ({self.issuer})"
        return f"valid until {self.not_after:%Y-%m-%d %H:%M} UTC ({self.issuer})"


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of content, length) of the DER element at i."""
    tag, length = data[i], data[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[i:i + n], "big")
        i += n
    return tag, i, length


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime / GeneralizedTime
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def validity(pem: str) -> tuple[datetime, datetime]:
    """notBefore, notAfter of the first certificate in a PEM text. ValueError if it is not one."""
    m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    if not m:
        raise ValueError("no PEM certificate")
    der = base64.b64decode("".join(m.group(1).split()))
    try:
        _, cert, _ = _tlv(der, 0)
        _, i, _ = _tlv(der, cert)  # tbsCertificate: [0] version?, serial, signature, issuer, validity
        tag, start, length = _tlv(der, i)
        if tag == 0xA0:
            i = start + length
        for _ in range(3):
            _, start, length = _tlv(der, i)
            i = start + length
        _, i, _ = _tlv(der, i)
        times = []
        for _ in range(2):
            tag, start, length = _tlv(der, i)
            times.append(_time(tag, der[start:start + length]))
            i = start + length
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not a certificate Caddy wrote: {e}") from None
    return times[0], times[1]


def find(host: Host, domain: str) -> Cert | None:
    for folder, issuer in ISSUERS.items():
        pem = host.read_file(f"{CERTS_DIR}/{folder}/{domain}/{domain}.crt")
        if pem:
            try:
                not_before, not_after = validity(pem)
            except ValueError:
                continue
            return Cert(domain, issuer, not_before, not_after)
    return None


def state(host: Host, domain: str, now: datetime | None = None) -> str:
    cert = find(host, domain)
    if cert is None:
        return "no certificate yet"
    return cert.describe(now or datetime.now(UTC))
