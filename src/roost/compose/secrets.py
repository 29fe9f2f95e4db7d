"""Find credentials that should be generated secrets, by the role of each variable, never by value alone.

A literal is replaced by a generated secret only where the variable is a credential of a service
in the file or a secret of the app itself: a password the file repeats (a database password that
is also inside a DATABASE_URL), or a placeholder (`changeme`) of the app's own secret. Never a
user name, never a credential of an outside service (SMTP, S3 of a provider, OAuth) unless the
value is the password of a service in the file (MinIO as S3), never an empty value, and never a
database password written once (a client may rely on the image's default). Each secret gets the
length its role needs.

Works on env values only and never returns or logs a value: callers get names and places."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# keys whose value is a credential roost can generate (the app and its database agree on it)
SECRET_KEY_RE = re.compile(r"(PASS(WORD|WD)?|PWD|SECRET|TOKEN|(^|_)KEY(_BASE)?$|SALT|PRIVATE_KEY)", re.IGNORECASE)
# credentials for a service outside the file: a random value would not log in anywhere
EXTERNAL_RE = re.compile(r"(SMTP|MAIL|EMAIL|LDAP|S3|AWS|OIDC|OAUTH|CLIENT_SECRET|GOOGLE|GITHUB|MAXMIND|SENTRY|"
                         r"TWILIO|SLACK|DISCORD|TELEGRAM|STRIPE|LICENSE|API_KEY|PUBLIC)", re.IGNORECASE)
NOT_SECRET_RE = re.compile(r"(_FILE|_PATH|_LENGTH|_LEN|_MIN|_MAX|_ALGORITHM|_TYPE|_MODE|_ENABLED?|_ALLOW\w*|"
                           r"_COST|_ROUNDS|_ITERATIONS|_POLICY|_HEADER|_NAME|_USER(NAME)?|(?<!SECRET_)ACCESS_KEY(_ID)?)$"
                           r"|ALLOW_EMPTY", re.IGNORECASE)
# a password a client must repeat: written once, the client may rely on the image's built-in default
PASSWORD_RE = re.compile(r"(PASS(WORD|WD)?|PWD)$", re.IGNORECASE)
# roles that need more than the default length (Phoenix and Rails refuse a secret_key_base under 64)
LENGTHS = ((re.compile(r"SECRET_KEY_BASE|KEY_BASE$|LIVE_VIEW_SIGNING_SALT", re.IGNORECASE), 64),)
PLACEHOLDERS = {"", "changeme", "change_me", "change-me", "changeit", "change_it", "example", "password",
                "passw0rd", "secret", "mysecret", "mypassword", "pass", "admin", "test", "123456", "12345678",
                "default", "xxx", "xxxx", "xxxxxx", "todo", "replaceme", "replace_me", "your_password",
                "yourpassword", "supersecret", "super_secret", "secretpassword", "dbpassword", "db_password",
                "postgres", "root"}
PLACEHOLDER_RE = re.compile(
    r"^(<.*>|\{\{.*\}\}|x{3,}|\*{3,}|(please[-_ ]?)?(change|replace|your|insert|enter|generate|put[-_]?your)"
    r"[-_ ]?[A-Za-z0-9_-]*|.*(changeme|change[-_]me|replace[-_]?me|random[-_]?string|some[-_]?random|"
    r"your[-_]?(secret|password|key|token)|example[-_]?(secret|password|key|token)).*)$",
    re.IGNORECASE,
)
URL_PASSWORD_RE = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]*)(?=@)")
MIN_LENGTH = 32


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key)) and not NOT_SECRET_RE.search(key)


def length_for(key: str) -> int:
    return next((n for pattern, n in LENGTHS if pattern.search(key)), MIN_LENGTH)


def is_external(key: str) -> bool:
    return bool(EXTERNAL_RE.search(key))


def is_placeholder(value: str) -> bool:
    v = value.strip()
    return v.lower() in PLACEHOLDERS or bool(PLACEHOLDER_RE.match(v))


@dataclass
class Place:
    container: str
    key: str
    line: int | None
    inside_url: bool = False

    def describe(self) -> str:
        at = f" (line {self.line})" if self.line else ""
        return f"{self.container}: {'inside ' if self.inside_url else ''}{self.key}{at}"


@dataclass
class Found:
    name: str  # secret name for the spec
    reason: str  # "repeated literal" or "placeholder"
    places: list[Place] = field(default_factory=list)
    length: int = MIN_LENGTH


@dataclass
class SecretPlan:
    found: list[Found]
    env: dict[str, dict[str, str]]  # container -> env with ${secrets.NAME} in place of each value
    clear: list[Place]  # single literals under secret-looking keys, left as written
    external: list[Place]  # placeholders of outside credentials: the user fills them in
    values: dict[str, str] = field(repr=False, default_factory=dict)  # secret name -> the literal it replaced
    held: list[Place] = field(default_factory=list)  # left as written: an env file holds the same value
    weak: list[Place] = field(default_factory=list)  # a database password's placeholder written once: kept


def _secret_name(key: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", key.lower()).strip("_") or "secret"
    if not base[0].isalpha():
        base = "s_" + base
    base = base[:56]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def find_secrets(env: dict[str, dict[str, str]], lines: dict[tuple[str, str], int],
                 elsewhere: set[str] | frozenset[str] = frozenset()) -> SecretPlan:
    """env: container -> {KEY: value}; lines: (container, KEY) -> compose line. A value in `elsewhere`
    (it is also in an env file, which cannot refer to a roost secret) is left as written."""
    # every literal a secret-looking key holds, and every password inside a URL, grouped by value
    by_value: dict[str, list[Place]] = {}
    for cname, values in env.items():
        for key, value in values.items():
            line = lines.get((cname, key))
            if is_secret_key(key) and "${secrets." not in value and value != "":  # empty: optional, left so
                by_value.setdefault(value, []).append(Place(cname, key, line))
            for m in URL_PASSWORD_RE.finditer(value):
                if m.group("pw") and "${" not in m.group("pw"):
                    by_value.setdefault(m.group("pw"), []).append(Place(cname, key, line, inside_url=True))
    taken: set[str] = set()
    found: list[Found] = []
    clear: list[Place] = []
    external: list[Place] = []
    weak: list[Place] = []
    replace: dict[str, str] = {}  # literal -> secret name
    held: list[Place] = []  # values an env file repeats
    whole: dict[tuple[str, str], str] = {}  # (container, KEY) whose whole value becomes ${secrets.NAME}
    for value, places in by_value.items():
        if value in elsewhere:
            held.extend(p for p in places if not p.inside_url)
            continue
        own = [p for p in places if p.inside_url or not is_external(p.key)]
        outside = [p for p in places if p not in own]
        if not own:  # only credentials of outside services: a random value would log in nowhere
            (external if is_placeholder(value) else clear).extend(outside)
            continue
        keyed = [p for p in own if not p.inside_url]
        # an outside-looking key that holds the password of a service in the file (S3 of the file's MinIO)
        joins = outside if not is_placeholder(value) and any(PASSWORD_RE.search(p.key) for p in keyed) else []
        own += joins
        outside = [p for p in outside if p not in joins]
        repeated = len(own) > 1 and (bool(keyed) or len({p.container for p in own}) > 1)
        keyed += joins
        if is_placeholder(value):
            external.extend(outside)
            outside = []
        if repeated:
            reason = "repeated literal"
        elif is_placeholder(value) and keyed and not PASSWORD_RE.search(keyed[0].key):
            reason = "placeholder"  # the app's own secret (SECRET_KEY=changeme): nothing else knows it
        else:
            (weak if is_placeholder(value) and keyed else clear).extend(keyed)
            clear.extend(outside)
            continue
        name = _secret_name((keyed or own)[0].key, taken)
        length = max(length_for(p.key) for p in (keyed or own))
        found.append(Found(name, reason, own, length))
        clear.extend(outside)
        replace[value] = name
        whole.update({(p.container, p.key): name for p in keyed})
    new_env: dict[str, dict[str, str]] = {}
    for cname, values in env.items():
        out = {}
        for key, value in values.items():
            if (cname, key) in whole:
                value = f"${{secrets.{whole[(cname, key)]}}}"
            else:
                value = URL_PASSWORD_RE.sub(
                    lambda m: m.group("pre") + (f"${{secrets.{replace[m.group('pw')]}}}"
                                                if m.group("pw") in replace else m.group("pw")), value)
            out[key] = value
        new_env[cname] = out
    values = {name: value for value, name in replace.items()}
    return SecretPlan(found, new_env, clear, external, values, held, weak)
