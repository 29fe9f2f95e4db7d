"""Find passwords that should be generated secrets: a literal the file repeats (a database password
that is also inside a DATABASE_URL), or an obvious placeholder (`changeme`, `example`, empty).

Works on env values only and never returns or logs a value: callers get names and places."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# keys whose value is a credential roost can generate (the app and its database agree on it)
SECRET_KEY_RE = re.compile(r"(PASS(WORD|WD)?|PWD|SECRET|TOKEN|(^|_)KEY(_BASE)?$|SALT|PRIVATE_KEY)", re.I)
# credentials for a service outside the file: a random value would not log in anywhere
EXTERNAL_RE = re.compile(r"(SMTP|MAIL|EMAIL|LDAP|S3|AWS|OIDC|OAUTH|CLIENT_SECRET|GOOGLE|GITHUB|MAXMIND|SENTRY|"
                         r"TWILIO|SLACK|DISCORD|TELEGRAM|STRIPE|LICENSE|API_KEY|PUBLIC)", re.I)
NOT_SECRET_RE = re.compile(r"(_FILE|_PATH|_LENGTH|_LEN|_MIN|_MAX|_ALGORITHM|_TYPE|_MODE|_ENABLED?|_ALLOW\w*|"
                           r"_COST|_ROUNDS|_ITERATIONS|_POLICY|_HEADER|_NAME|_USER(NAME)?)$|ALLOW_EMPTY", re.I)
PLACEHOLDERS = {"", "changeme", "change_me", "change-me", "changeit", "change_it", "example", "password",
                "passw0rd", "secret", "mysecret", "mypassword", "pass", "admin", "test", "123456", "12345678",
                "default", "xxx", "xxxx", "xxxxxx", "todo", "replaceme", "replace_me", "your_password",
                "yourpassword", "supersecret", "super_secret", "secretpassword", "dbpassword", "db_password",
                "postgres", "root"}
PLACEHOLDER_RE = re.compile(r"^(<.*>|\{\{.*\}\}|(please_?)?(change|replace|your|insert|put|set|generate|enter)"
                            r"[_-]?(me|this|it|your|a|the|_|-).*|.*(changeme|change_me|replace_?me|random_?string|"
                            r"some_?random|your_?(secret|password|key|token)|example_?(secret|password|key|token)).*)$",
                            re.I)
URL_PASSWORD_RE = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]*)(?=@)")
MIN_LENGTH = 32


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key)) and not NOT_SECRET_RE.search(key)


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
        return f"{self.container}: {'inside ' if self.inside_url else ''}{self.key}"


@dataclass
class Found:
    name: str  # secret name for the spec
    reason: str  # "repeated literal" or "placeholder"
    places: list[Place] = field(default_factory=list)


@dataclass
class SecretPlan:
    found: list[Found]
    env: dict[str, dict[str, str]]  # container -> env with ${secrets.NAME} in place of each value
    clear: list[Place]  # single literals under secret-looking keys, left as written
    external: list[Place]  # placeholders of outside credentials: the user fills them in
    values: dict[str, str] = field(repr=False, default_factory=dict)  # secret name -> the literal it replaced


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


def find_secrets(env: dict[str, dict[str, str]], lines: dict[tuple[str, str], int]) -> SecretPlan:
    """env: container -> {KEY: value}; lines: (container, KEY) -> compose line."""
    # every literal a secret-looking key holds, and every password inside a URL, grouped by value
    by_value: dict[str, list[Place]] = {}
    empty_by_key: dict[str, list[Place]] = {}
    for cname, values in env.items():
        for key, value in values.items():
            line = lines.get((cname, key))
            if is_secret_key(key) and "${secrets." not in value:
                if value == "":
                    if not is_external(key):
                        empty_by_key.setdefault(key.upper(), []).append(Place(cname, key, line))
                else:
                    by_value.setdefault(value, []).append(Place(cname, key, line))
            for m in URL_PASSWORD_RE.finditer(value):
                if m.group("pw") and "${" not in m.group("pw"):
                    by_value.setdefault(m.group("pw"), []).append(Place(cname, key, line, inside_url=True))
    taken: set[str] = set()
    found: list[Found] = []
    clear: list[Place] = []
    external: list[Place] = []
    replace: dict[str, str] = {}  # literal -> secret name
    for value, places in by_value.items():
        keyed = [p for p in places if not p.inside_url]
        if is_placeholder(value):
            if keyed and all(is_external(p.key) for p in keyed):
                external.extend(keyed)
                continue
            reason = "placeholder"
        elif len(places) > 1 and (keyed or len({p.container for p in places}) > 1):
            reason = "repeated literal"
        else:
            clear.extend(keyed)
            continue
        name_from = (keyed or places)[0].key
        name = _secret_name(name_from, taken)
        found.append(Found(name, reason, places))
        replace[value] = name
    for key, places in empty_by_key.items():
        name = _secret_name(key, taken)
        found.append(Found(name, "empty", places))
        for p in places:
            env[p.container][p.key] = f"${{secrets.{name}}}"
    new_env: dict[str, dict[str, str]] = {}
    for cname, values in env.items():
        out = {}
        for key, value in values.items():
            if value in replace and is_secret_key(key):
                value = f"${{secrets.{replace[value]}}}"
            else:
                value = URL_PASSWORD_RE.sub(
                    lambda m: m.group("pre") + (f"${{secrets.{replace[m.group('pw')]}}}"
                                                if m.group("pw") in replace else m.group("pw")), value)
            out[key] = value
        new_env[cname] = out
    values = {name: value for value, name in replace.items()}
    return SecretPlan(found, new_env, clear, external, values)
