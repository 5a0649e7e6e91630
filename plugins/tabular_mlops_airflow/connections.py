"""Turn an Airflow Connection into a SQLAlchemy URL for the package (which never imports Airflow)."""

from __future__ import annotations

from urllib.parse import quote_plus

DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


def sqlalchemy_url(conn_id: str) -> str:
    """Resolve at run time (never at DAG parse time); a missing connection names itself."""
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:
        raise LookupError(
            f"Airflow connection '{conn_id}' is not defined (set AIRFLOW_CONN_{conn_id.upper()} "
            f"or add it in Admin > Connections): {exc}"
        ) from exc
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    driver = DRIVERS.get(conn.conn_type)
    if driver is None:
        raise ValueError(f"connection '{conn_id}' has unsupported type '{conn.conn_type}'")
    auth = ""
    if conn.login:
        auth = quote_plus(conn.login) + (f":{quote_plus(conn.password)}" if conn.password else "") + "@"
    port = f":{conn.port}" if conn.port else ""
    return f"{driver}://{auth}{conn.host}{port}/{conn.schema or ''}"
