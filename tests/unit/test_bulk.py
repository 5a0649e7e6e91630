"""Column-by-column bulk writes store exactly what SQLAlchemy's own executemany stores."""

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa
from tabular_mlops.store.bulk import execute_many, frame_chunks, insert_frame


def _table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("at", sa.DateTime()),
        sa.Column("x", sa.Float()),
        sa.Column("n", sa.Integer()),
        sa.Column("flag", sa.Boolean()),
        sa.Column("text", sa.String(8)),
    )


ROWS = pd.DataFrame(
    {
        "id": ["a", "b", "c"],
        "at": pd.to_datetime(
            ["2026-03-01 00:00:00", "2026-03-01 12:30:00.250", "2026-03-02 23:59:59"], format="ISO8601"
        ),
        "x": [1.5, np.nan, -2.0],
        "n": [1, 2, 3],
        "flag": [True, False, True],
        "text": ["x", None, "z"],
    }
)


def test_rows_stored_column_by_column_match_sqlalchemys_own_insert(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata = sa.MetaData()
    ours, theirs = _table(metadata, "ours"), _table(metadata, "theirs")
    metadata.create_all(engine)
    with engine.begin() as conn:
        assert insert_frame(conn, ours, ROWS, chunk_rows=2) == 3
        conn.execute(theirs.insert(), ROWS.astype(object).where(ROWS.notna(), None).to_dict("records"))
    with engine.connect() as conn:
        # The stored bytes (SQLite's datetime text included), so range queries compare alike.
        raw = [conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY id").all() for t in ("ours", "theirs")]
        assert raw[0] == raw[1]
        assert raw[0][1][1] == "2026-03-01 12:30:00.250000" and raw[0][1][2] is None and raw[0][1][5] is None
        window = ours.c.at >= dt.datetime(2026, 3, 1, 12)
        assert conn.execute(sa.select(ours.c.id).where(window).order_by(ours.c.id)).scalars().all() == [
            "b",
            "c",
        ]


def test_updates_report_the_rows_they_matched(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata = sa.MetaData()
    table = _table(metadata, "t")
    metadata.create_all(engine)
    stmt = table.update().where(table.c.id == sa.bindparam("_id")).values(n=sa.bindparam("_n"))
    with engine.begin() as conn:
        insert_frame(conn, table, ROWS)
        assert execute_many(conn, stmt, {"_n": [10, 30, 99], "_id": ["a", "c", "missing"]}) == 2
        assert conn.execute(sa.select(table.c.n).order_by(table.c.id)).scalars().all() == [10, 2, 30]


def test_chunks_cover_every_row_once():
    chunks = list(frame_chunks(ROWS, 2))
    assert [len(c["id"]) for c in chunks] == [2, 1] and chunks[1]["text"] == ["z"]
    assert chunks[0]["x"] == [1.5, None] and chunks[0]["text"] == ["x", None]


def test_values_are_plain_python_with_none_for_missing():
    from tabular_mlops.store.bulk import python_values

    at = pd.Series(pd.to_datetime(["2026-03-01 00:00:01.5", None], format="ISO8601"))
    assert python_values(at) == [dt.datetime(2026, 3, 1, 0, 0, 1, 500000), None]
    assert python_values(pd.Series([1.0, np.nan])) == [1.0, None]
    assert python_values(pd.Series([1, 2])) == [1, 2] and type(python_values(pd.Series([1]))[0]) is int
    assert python_values(pd.Series(["a", None, np.nan])) == ["a", None, None]
    assert python_values(pd.Series([1, None], dtype="Int64")) == [1, None]
