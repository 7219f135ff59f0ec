"""Which database a store opens: URLs as users write them, turned into async drivers."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from sluice._exceptions import ConfigError
from sluice._redact import register_secret

__all__ = ["DEFAULT_FILE_NAME", "check_namespace", "database_url", "safe_url"]

DEFAULT_FILE_NAME = "sluice.db"
_SQLITE = frozenset({"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"})
_POSTGRES = frozenset(
    {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2"}
)
_EXPECTED = "expected sqlite:///<path> or postgresql://<user>:<password>@<host>/<database>"
# Lower case only: PostgreSQL folds unquoted names, and a name that needs
# quoting here would need it in every psql session of the operator too.
_NAMESPACE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def database_url(url: str | None, data_dir: Path | None = None) -> sa.URL:
    """The async-driver URL for ``url``; None: the SQLite file in ``data_dir``.

    The password, if any, is registered as a secret first, so that no log
    line or error shows it. The directory of a SQLite file is created.
    """
    if url is None:
        folder = (data_dir if data_dir is not None else Path(".sluice")).expanduser()
        parsed = sa.URL.create("sqlite+aiosqlite", database=str(folder / DEFAULT_FILE_NAME))
    else:
        try:
            parsed = sa.make_url(url)
        except ArgumentError:
            # SQLAlchemy's message quotes the whole URL, password and all.
            raise ConfigError(f"the database URL cannot be read: {_EXPECTED}") from None
        if parsed.password:
            register_secret(str(parsed.password))
    if parsed.drivername in _SQLITE:
        return _sqlite(parsed)
    if parsed.drivername in _POSTGRES:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(f"unsupported database {parsed.drivername!r}: {_EXPECTED}")


def _sqlite(url: sa.URL) -> sa.URL:
    path = url.database or ""
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise ConfigError(
            "an in-memory SQLite database is lost on exit and cannot be shared by "
            "connections: give a file, sqlite:///path/to/sluice.db"
        )
    file = Path(path).expanduser()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {file.parent} for the SQLite database: {exc.strerror or exc}"
        ) from None
    return url.set(drivername="sqlite+aiosqlite", database=str(file))


def check_namespace(namespace: str | None) -> str | None:
    """``namespace`` if it can name a PostgreSQL schema as it is; else ConfigError."""
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            f"namespace {namespace!r} cannot name a schema: use 1 to 63 lower-case "
            "letters, digits and underscores, not starting with a digit"
        )
    return namespace


def safe_url(url: sa.URL) -> str:
    """``url`` for logs and reprs: the password replaced with ``***``."""
    return url.render_as_string(hide_password=True)
