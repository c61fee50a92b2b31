"""Case rows in Apache Spark (``engine: spark``): a CSV/Parquet file read by Spark, or a table of its catalog.

The relation is an ordinary :class:`foikit.source.sql.SqlRelation`: its SQLAlchemy engine runs statements
through a small DB-API driver over a SparkSession (:class:`_Connection`), compiled with the Databricks
dialect (``databricks-sqlalchemy``: Databricks SQL is Spark SQL; backtick identifiers, ``STRING`` casts,
``:name`` parameter markers). So the cube query and every check of :mod:`foikit.cube.sql` run in Spark
unchanged, each value passed as a named parameter of ``spark.sql(text, args=...)`` (Spark >= 3.4), never
formatted into the text.

The session: ``local[2]`` by default, started once per process and shared by every relation; the
environment variable :data:`MASTER_ENV` names another master (``spark://host:7077``, ``yarn``, ...) or a
Spark Connect server (``sc://host:15002``). An environment variable rather than a params field: a cluster
address (or a Databricks token in a Connect URL) would otherwise be copied into the published report.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from foikit.exceptions import DataError, capped_text
from foikit.source.files import parquet_schema, shown
from foikit.source.sql import SqlRelation

MASTER_ENV = "FOIKIT_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"
_VIEWS = itertools.count(1)  # one temporary view per file relation in the shared session
_LOCK = threading.Lock()
_SESSION: list[Any] = []


def master() -> str:
    """The master (or Spark Connect URL) sessions start with."""
    return os.environ.get(MASTER_ENV, "").strip() or DEFAULT_MASTER


def session() -> Any:
    """The process's SparkSession, started on first use (Spark takes seconds to start: never per query)."""
    with _LOCK:
        if _SESSION:
            return _SESSION[0]
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise DataError("data.engine: spark needs pyspark (pip install 'foikit[spark]') and Java") from None
        url = master()
        builder = SparkSession.builder.appName("foikit")
        if url.startswith("sc://"):
            builder = builder.remote(url)
        else:
            builder = builder.master(url)
            if url.startswith("local"):
                # a local session listens on loopback only, and a count of a few partitions needs few shuffles
                builder = (builder.config("spark.driver.host", "127.0.0.1")
                           .config("spark.driver.bindAddress", "127.0.0.1")
                           .config("spark.sql.shuffle.partitions", "2"))
            builder = (builder.config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false"))
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # no Java, an unreachable master: its first line only
            raise DataError(f"data.engine: spark: cannot start a session on {shown(url)}: "
                            f"{_first_line(exc)}") from None
        if not url.startswith("sc://"):
            spark.sparkContext.setLogLevel("ERROR")
        _SESSION.append(spark)
        return spark


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return capped_text(text.splitlines()[0]) if text else type(exc).__name__


# --- a DB-API 2.0 driver over a SparkSession, enough for SQLAlchemy to run SELECTs --------------------------


class Error(Exception):
    """Any failure of a Spark statement (SQLAlchemy wraps it as a DBAPIError)."""


class DatabaseError(Error):
    pass


class InterfaceError(Error):
    pass


class _Cursor:
    arraysize = 1000

    def __init__(self, spark: Any) -> None:
        self._spark = spark
        self._rows: list[tuple] = []
        self.description: list[tuple] | None = None
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            frame = self._spark.sql(operation, args=dict(parameters or {}))
            rows = frame.collect()
            names = frame.columns
        except Exception as exc:  # pyspark's and py4j's errors alike: the first line says what went wrong
            raise DatabaseError(_first_line(exc)) from None
        self.description = [(n, None, None, None, None, None, None) for n in names]
        self._rows = [tuple(r) for r in rows]
        self.rowcount = len(self._rows)

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        size = self.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        self._rows = []


class _Connection:
    def __init__(self, spark: Any) -> None:
        self._spark = spark

    def cursor(self) -> _Cursor:
        return _Cursor(self._spark)

    def commit(self) -> None:  # SELECTs only: nothing to commit or roll back
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:  # the session is shared: it outlives every connection
        pass


class _Driver:
    """The DB-API module SQLAlchemy is given (``create_engine(module=...)``)."""

    paramstyle = "named"
    apilevel = "2.0"
    threadsafety = 1
    Error = Error
    DatabaseError = DatabaseError
    InterfaceError = InterfaceError


def _engine(spark: Any) -> sa.Engine:
    # the Databricks dialect, given our driver: no connector of its own is loaded or asked for
    engine = sa.create_engine("databricks://", module=_Driver, creator=lambda: _Connection(spark),
                              poolclass=sa.pool.StaticPool)
    return engine


def spark_relation(path: str | Path | None = None, table: str | None = None) -> SqlRelation:
    """Rows of a CSV (every value as text) or Parquet file read by Spark, or of ``table`` (``name``,
    ``db.name`` or ``catalog.db.name``) in the session's catalog; counted in Spark, only results come back.

    >>> with spark_relation("cases.parquet") as rel:  # doctest: +SKIP
    ...     frame, query = sql_cube(spec, rel, "params.parts.0")
    """
    if (path is None) == (table is None):
        raise ValueError("spark_relation: give exactly one of path= and table=")
    spark = session()
    if path is not None:
        path = Path(path)
        suffix = path.suffix.lower()
        if path.is_dir():
            raise DataError(f"{path}: is a directory, not a data file")
        if suffix not in {".csv", ".parquet"}:
            raise DataError(f"{path}: unsupported data file type {shown(path.suffix)} (use .csv or .parquet)")
        if suffix == ".parquet":
            parquet_schema(path)  # the refusals every engine shares
        elif not path.is_file():
            raise DataError(f"{path}: no such file")
        label = str(path)
        name = f"foikit_cases_{next(_VIEWS)}"
        try:
            reader = spark.read
            if suffix == ".csv":
                # every value as text, as the other engines read a CSV; a malformed line stops the read
                frame = reader.csv(str(path.resolve()), header=True, inferSchema=False, encoding="UTF-8",
                                   mode="FAILFAST", multiLine=True, escape='"', enforceSchema=False)
            else:
                frame = reader.parquet(str(path.resolve()))
            frame.createOrReplaceTempView(name)
            names = tuple(frame.columns)
        except Exception as exc:  # named by the kind of failure, never with the file's content
            raise DataError(f"{path}: cannot read the file: {type(exc).__name__}") from None
        source = sa.table(name, *(sa.column(n) for n in names))
    else:
        assert table is not None
        label = f"spark table {table}"
        try:
            names = tuple(spark.table(table).columns)
        except Exception as exc:
            raise DataError(f"{label}: cannot read the table: {_first_line(exc)}") from None
        *schema, name = table.split(".")
        source = sa.table(name, *(sa.column(n) for n in names), schema=".".join(schema) or None)
    relation = SqlRelation(_engine(spark), source, label, names, path=path)
    relation.kind = "Spark"
    if path is not None:
        relation.on_close = lambda: spark.catalog.dropTempView(name)
    return relation


def views(spark: Any) -> Sequence[str]:
    """The temporary views foikit holds in ``spark`` (for tests: closed relations leave none)."""
    return sorted(t.name for t in spark.catalog.listTables() if t.name.startswith("foikit_cases_"))


__all__ = ["DEFAULT_MASTER", "MASTER_ENV", "master", "session", "spark_relation"]
