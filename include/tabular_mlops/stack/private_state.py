"""The local stack's state is private to its user: var/ is 0700, every file in it 0600 (the Airflow password file,
monitoring.db with applicants' features, source.db, the MLflow store and credentials), and MLflow asks for the
generated credentials of var/mlflow/credentials.json.

`up` sets the process umask to 077 before it creates anything, so every file it, its one-shot commands and the
supervised programs create (supervisord's own `umask` is set to the same) is private from the start; what an
older stack left readable is tightened once.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_UMASK = 0o077
MLFLOW_ADMIN = "admin"


def private_file(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the first byte (never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def make_private(var: Path) -> list[Path]:
    """umask 077 for this process and its children; var/ 0700; what others could read or write in var/ (an older
    stack's 0644 files) loses those bits. Returns the paths tightened."""
    os.umask(PRIVATE_UMASK)
    var.mkdir(parents=True, exist_ok=True)
    tightened = []
    for path in [var, *var.rglob("*")]:
        try:
            st = path.lstat()
        except FileNotFoundError:  # a file a running program just removed (a SQLite journal)
            continue
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            continue
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
        tightened.append(path)
    return tightened


@dataclass(frozen=True)
class MlflowCredentials:
    """The local MLflow server's admin login and its Flask secret (CSRF of the auth app's forms)."""

    username: str
    password: str
    flask_secret: str

    def to_dict(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "flask_secret": self.flask_secret}

    @classmethod
    def from_dict(cls, data: dict) -> MlflowCredentials:
        return cls(str(data["username"]), str(data["password"]), str(data["flask_secret"]))


def mlflow_credentials(mlflow_dir: Path) -> MlflowCredentials:
    """var/mlflow/credentials.json, generated (0600) on first use; the same login on every later `up`."""
    path = mlflow_dir / "credentials.json"
    try:
        return MlflowCredentials.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"{path}: unreadable MLflow credentials ({exc}); remove it to generate new ones"
        ) from exc
    created = MlflowCredentials(MLFLOW_ADMIN, secrets.token_urlsafe(24), secrets.token_urlsafe(32))
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another `up` or command wrote it meanwhile: use theirs
        return MlflowCredentials.from_dict(json.loads(path.read_text()))
    with os.fdopen(fd, "w") as fh:
        json.dump(created.to_dict(), fh)
    return created


def mlflow_auth_config(mlflow_dir: Path, credentials: MlflowCredentials) -> Path:
    """The basic-auth app's config (0600): its user store beside the tracking store, the admin created on the
    first start with the generated password. Authenticated users other than the admin may only read."""
    path = mlflow_dir / "basic_auth.ini"
    private_file(
        path,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{mlflow_dir / 'basic_auth.db'}\n"
        f"admin_username = {credentials.username}\n"
        f"admin_password = {credentials.password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # A checked login is remembered for 5 minutes (in the one worker's memory, keyed by an HMAC of the password
        # under a per-process key; failures are never cached). Without it every request re-derives the password's
        # scrypt hash, 0.11 CPU s each: the private-stack test's MLflow worker spent about 30 CPU s on that.
        "auth_cache_ttl_seconds = 300\n",
    )
    return path
