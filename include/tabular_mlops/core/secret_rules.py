"""Start-up check of secrets: each one set, not a known default or a weak word, strong enough.

Compose refuses an unset variable (`${VAR:?...}`) but happily starts with `Password1234!`, `aaaaaaaaaaaa`, a Fernet
key list with a broken key, or Airflow's all-admins mode. `tabular-mlops check-secrets NAME...` (the compose
`check-secrets` service, which every service holding a secret waits for) refuses those with one line per
variable, naming it and the rule, never printing its value. The scoring service applies the same rules to its
admin token at start.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections import Counter
from collections.abc import Mapping

# Defaults that circulate in quick-starts and compose files; compared case-insensitively, whole value.
KNOWN_DEFAULTS = frozenset(
    {
        "admin",
        "airflow",
        "changeme",
        "change-me",
        "mlflow",
        "minioadmin",
        "password",
        "password1234",
        "postgres",
        "secret",
        "temporary_key",
        "test",
    }
)
# Words a weak secret is built around ("Password1234!", "admin_admin_2024"): what is left once they are taken
# out must still be a strong secret on its own. Keyboard and alphabet runs count as words.
WEAK_WORDS = (
    "password", "passwort", "passw0rd", "p@ssword", "admin", "airflow", "mlflow", "postgres", "redis", "minio",
    "secret", "changeme", "letmein", "welcome", "qwerty", "azerty", "iloveyou", "default", "example", "test",
    "root", "user", "login", "token", "abcdef", "123456", "654321", "098765",
)  # fmt: skip
MIN_PASSWORD = 12
MIN_KEY = 32
# Character variety: at least a third of the length (capped at 8) in distinct characters, and no character in
# more than half the places. A run of one letter, or two alternating, is no secret whatever its length; random hex
# of 12 characters (the shortest allowed) fails a rule 3 times in 100,000 draws; the 48 of .env.example never.
DISTINCT_SHARE, DISTINCT_CAP = 1 / 3, 8
MAX_SHARE_OF_ONE_CHARACTER = 1 / 2
# Airflow's simple auth manager makes every visitor an admin when this is true.
ALL_ADMINS = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"


def kind_of(name: str) -> str:
    """ "fernet" (a comma-separated Fernet key list), "key" (signing keys, tokens) or "password"."""
    upper = name.upper()
    if "FERNET" in upper:
        return "fernet"
    if upper.endswith(("SECRET_KEY", "JWT_SECRET", "TOKEN")) and "ACCESS" not in upper:
        return "key"
    return "password"


def strength(value: str, min_length: int) -> str | None:
    """Why `value` is too weak for a secret of `min_length` characters, or None."""
    if value.strip().lower() in KNOWN_DEFAULTS:
        return "is a well-known default: generate a random one"
    if len(value) < min_length:
        return f"is shorter than {min_length} characters"
    counts = Counter(value)
    wanted = min(DISTINCT_CAP, int(len(value) * DISTINCT_SHARE))
    if len(counts) < wanted:
        return f"has only {len(counts)} distinct characters (at least {wanted}): generate a random one"
    top = counts.most_common(1)[0][1]
    if top > len(value) * MAX_SHARE_OF_ONE_CHARACTER:
        return f"repeats one character {top} times in {len(value)}: generate a random one"
    rest = value.lower()
    words = [w for w in WEAK_WORDS if w in rest]
    for word in words:
        rest = rest.replace(word, "")
    if words and len(rest) < min_length:
        return "is built around a known-weak word (e.g. a default with digits added): generate a random one"
    return None


def _fernet_key(key: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return "is not a Fernet key (url-safe base64 of 32 bytes)"
    if len(raw) != 32:
        return f"is not a Fernet key (decodes to {len(raw)} bytes, not 32)"
    if len(set(raw)) < 16:  # 32 random bytes have ~30 distinct values; a zero or repeated key has 1 or 2
        return "is not random (too few distinct bytes): generate it with Fernet.generate_key()"
    return None


def fernet_list(value: str) -> str | None:
    """Every key of a comma-separated Fernet key list (Airflow rotates keys that way) must be one."""
    keys = value.split(",")
    for i, key in enumerate(keys, start=1):
        if (why := _fernet_key(key.strip())) is not None:
            return why if len(keys) == 1 else f"key {i} of {len(keys)} {why}"
    return None


def judge(name: str, value: str) -> str | None:
    """Why the secret `name` holding `value` is unacceptable, or None."""
    if not value.strip():
        return "is empty or unset: set it in .env"
    kind = kind_of(name)
    if kind == "fernet":
        return fernet_list(value)
    return strength(value, MIN_KEY if kind == "key" else MIN_PASSWORD)


def problems(names: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with the secrets `names` in `env` (default: the process environment); empty when fine."""
    env = os.environ if env is None else env
    found = [f"{name} {why}" for name in names if (why := judge(name, env.get(name, ""))) is not None]
    if env.get(ALL_ADMINS, "").strip().lower() in ("true", "1", "yes"):
        found.append(f"{ALL_ADMINS} is on: every visitor would be an admin; turn it off and set passwords")
    return found
