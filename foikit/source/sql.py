"""Where the case rows are: a relation in a database, or a file read by an in-memory DuckDB; they never leave it.

A :class:`SqlRelation` is an SQLAlchemy engine plus the relation holding the case rows: a table, an arbitrary
SELECT used as a subquery (:func:`open_relation`), or a CSV/Parquet file read by an in-memory DuckDB
(:func:`file_relation`), so that one query builder (:mod:`foikit.cube.sql`) serves every source. This module
opens relations, runs statements on them and makes the checks that need no cube spec (keys, duplicate rows,
categories).

Every value is compared as text (``CAST(column AS VARCHAR)``): a raw value is what the column shows, whatever
its type. Dates may be DATE/TIMESTAMP columns or ISO text (``YYYY-MM-DD``, optionally followed by a time);
periods are compared on the first ten characters, which order like dates. NULL and '' are both "missing".
All raw values and bounds are bound parameters; nothing from the data or the request is formatted into SQL.

The checks (:func:`duplicate_keys`, :func:`duplicate_rows`, :func:`unknown_categories`) each give one-line
messages naming the source (never its password), the column and the offending values with their counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foikit.exceptions import DataError, capped_text
from foikit.source import credentials
from foikit.source.files import (
    READERS,
    SHOW_ROWS,
    column_list,
    duplicate_rows_message,
    parquet_schema,
    read_csv_table,
    read_xlsx,
    shown,
    unknown_categories_message,
)

FILE_VIEW = "cases"  # the view file_relation creates over a CSV/Parquet file
SHOW_VALUES = 20  # unknown values listed in a message
SHOW_FIRST = 5  # bad dates / duplicate keys listed in a message
ISO_SHAPES = ("____-__-__", "____-__-__ %", "____-__-__T%")  # LIKE patterns of a date (with a time)


class SqlRelation:
    """Case rows in a database: ``engine``, the ``source`` to select from, and a ``label`` for messages that
    never shows a password. Use as a context manager, or call :meth:`close`.

    A file read by DuckDB (:func:`file_relation`) also holds ``duck``, a DuckDB connection of its own: the
    count queries run on it directly (SQLAlchemy and duckdb_engine cost more to set up than a count of a
    million rows takes), and the SQLAlchemy ``engine`` over the same database is made only when something
    asks for it (the detailed checks, the snapshot)."""

    def __init__(self, engine: Engine | None, source: sa.FromClause, label: str, names: tuple[str, ...],
                 secret: str | None = None, *, make_engine: Callable[[], Engine] | None = None,
                 duck: Any = None, path: Path | None = None, arrow: Any = None) -> None:
        self._engine = engine
        self._make_engine = make_engine
        self.source = source
        self.label = label
        self.names = names
        self.secret = secret  # scrubbed from any database error message
        self.duck = duck  # duckdb.DuckDBPyConnection (file relations)
        self.path = path  # the file (file relations)
        self.arrow = arrow  # the parsed CSV (pyarrow.Table) that DuckDB scans in place
        self.kind = "DuckDB"  # what counts a file, as messages name it (foikit.source.spark: Spark)
        self.on_close: Callable[[], None] | None = None  # frees what the relation holds elsewhere

    def __repr__(self) -> str:
        return f"SqlRelation({self.label!r})"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            assert self._make_engine is not None
            self._engine = self._make_engine()
        return self._engine

    @property
    def dialect(self) -> sa.Dialect:
        """The dialect statements are compiled for (no engine needed for a file relation)."""
        return _duck_dialect(self.duck) if self.duck is not None else self.engine.dialect

    def columns(self) -> list[str]:
        """Column names of the relation, in order."""
        return list(self.names)

    def close(self) -> None:
        """Close every pooled connection (an in-memory DuckDB goes with it)."""
        if self._engine is not None:
            self._engine.dispose()
        if self.duck is not None:
            self.duck.close()
        if self.on_close is not None:
            self.on_close()
            self.on_close = None

    def __enter__(self) -> SqlRelation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    """A database error's first line, capped: it may quote a value (or a line of a file)."""

    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return capped_text(text.splitlines()[0]) if text else type(exc).__name__


def _errors() -> tuple[type[BaseException], ...]:
    import sys

    duckdb = sys.modules.get("duckdb")  # raw DuckDB connections (file relations) raise their own errors
    return (sa.exc.SQLAlchemyError, duckdb.Error) if duckdb is not None else (sa.exc.SQLAlchemyError,)


@contextmanager
def _database(label: str, doing: str, secret: str | None = None, quote: bool = True) -> Iterator[None]:
    """Turn any database error into a one-line DataError naming the source (the password scrubbed); with
    ``quote`` false, only the kind of error is said (reading a file: its message may quote the file)."""
    try:
        yield
    except _errors() as exc:
        orig = getattr(exc, "orig", None)
        message = _first_line(exc) if quote else type(orig if orig is not None else exc).__name__
        if secret:
            message = message.replace(secret, "***")
        raise DataError(credentials.scrub(f"{label}: {doing}: {message}")) from None


def _probe(engine: Engine, source: sa.FromClause, label: str, secret: str | None,
           opening: str = "cannot connect") -> tuple[str, ...]:
    """Connect once (errors name ``opening``), then the relation's column names."""
    with _database(label, opening, secret):
        engine.connect().close()
    with _database(label, "cannot read the relation", secret), engine.connect() as conn:
        result = conn.execute(sa.select(sa.text("*")).select_from(source).limit(0))
        return tuple(result.keys())


def open_relation(url: str, table: str | None = None, query: str | None = None) -> SqlRelation:
    """Connect to ``url`` (any SQLAlchemy URL) and read ``table`` (``name`` or ``schema.name``) or the rows
    of the SELECT ``query``; unreachable databases and unknown tables are DataErrors.

    >>> rel = open_relation("sqlite:///cases.db", table="cases")  # doctest: +SKIP
    """
    if (table is None) == (query is None):
        raise ValueError("open_relation: give exactly one of table= and query=")
    parsed = credentials.parse(url)
    if parsed is None:
        raise DataError("cannot parse the database URL (expected dialect+driver://user:password@host/db)")
    credentials.remember(url)
    shown = credentials.safe_url(parsed)  # the password and secret query values masked
    label = f"{shown} table {table}" if table is not None else f"{shown} query"
    with _database(label, "cannot open", parsed.password):
        engine = sa.create_engine(parsed)
    if table is not None:
        schema, _, name = table.rpartition(".")
        probe_source: sa.FromClause = sa.table(name, schema=schema or None)
    else:
        body = query.strip().rstrip(";")  # type: ignore[union-attr]
        probe_source = sa.text(body).columns().subquery("foikit_query")
    try:
        names = _probe(engine, probe_source, label, parsed.password)
    except DataError:
        engine.dispose()
        raise
    if table is not None:
        source: sa.FromClause = sa.table(name, *(sa.column(n) for n in names), schema=schema or None)
    else:
        source = sa.text(body).columns(*(sa.column(n) for n in names)).subquery("foikit_query")
    return SqlRelation(engine=engine, source=source, label=label, names=names, secret=parsed.password)


def file_relation(path: str | Path) -> SqlRelation:
    """A CSV (read with every value as text) or Parquet file in an in-memory DuckDB, so that large files are
    counted without loading them into pandas. A Parquet file is a view (DuckDB reads only the columns and
    row groups a query needs); a CSV is parsed once (into Arrow, or into a table), not again by every query.

    >>> with file_relation("cases.parquet") as rel:  # doctest: +SKIP
    ...     frame, query = sql_cube(spec, rel, "params.parts.0")
    """
    import duckdb


    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if suffix not in READERS:
        raise DataError(f"{path}: unsupported data file type {shown(path.suffix)} (use .csv or .parquet)")
    # the readers every engine shares: the same values and the same refusals as the pandas engine; a
    # workbook is read whole into Arrow (DuckDB's own reader is an extension, downloaded on first use)
    loaded = (read_csv_table(path) if suffix == ".csv" else
              pa.Table.from_pandas(read_xlsx(path), preserve_index=False) if suffix == ".xlsx" else None)
    if suffix == ".parquet":
        parquet_schema(path)
    duck = duckdb.connect()  # private to this relation; every connection below is a cursor of it
    try:
        # a file DuckDB cannot read is named with the kind of failure, never with its content
        with _database(str(path), "cannot read the file", quote=False):
            if suffix == ".parquet":  # the path is handed to DuckDB as a value, never written into SQL
                duck.read_parquet(str(path.resolve())).create_view(FILE_VIEW)
            cursor = _cursor(duck, loaded)
            cursor.execute(f"SELECT * FROM {FILE_VIEW} LIMIT 0")
            names = tuple(d[0] for d in cursor.description)
            cursor.close()
    except DataError:
        duck.close()
        raise

    def make_engine() -> Engine:
        # SQLAlchemy over the same database: each pooled connection is a cursor of ``duck``
        from duckdb_engine import ConnectionWrapper

        engine = sa.create_engine("duckdb:///:memory:", creator=lambda: ConnectionWrapper(_cursor(duck, loaded)))
        return engine

    source = sa.table(FILE_VIEW, *(sa.column(n) for n in names))
    return SqlRelation(None, source, str(path), names, make_engine=make_engine, duck=duck, path=path,
                       arrow=loaded)


def _cursor(duck: Any, loaded: Any) -> Any:
    """A connection to ``duck``'s database, with the parsed CSV registered (registrations are per
    connection; DuckDB scans the Arrow table in place)."""
    cursor = duck.cursor()
    if loaded is not None:
        cursor.register(FILE_VIEW, loaded)
    return cursor


_DIALECT: list[sa.Dialect] = []  # made once per process


def _duck_dialect(duck: Any = None) -> sa.Dialect:
    """duckdb_engine's dialect, its reserved words read through ``duck`` (a connection we hold): its own
    preparer reads them through DuckDB's default connection, a second database started just for that."""
    if _DIALECT:
        return _DIALECT[0]
    import duckdb
    from duckdb_engine import Dialect, DuckDBIdentifierPreparer
    from sqlalchemy.dialects.postgresql.base import PGIdentifierPreparer

    con = duck.cursor() if duck is not None else duckdb.connect()
    try:
        words = {w for (w,) in con.execute("SELECT keyword_name FROM duckdb_keywords() "
                                           "WHERE keyword_category = 'reserved'").fetchall()}
    finally:
        con.close()

    class Preparer(DuckDBIdentifierPreparer):
        def __init__(self, dialect: sa.Dialect, **kwargs: Any) -> None:
            PGIdentifierPreparer.__init__(self, dialect, **kwargs)
            self.reserved_words.update(words)

    class FileDialect(Dialect):
        preparer = Preparer

    _DIALECT.append(FileDialect(paramstyle="numeric_dollar"))  # as duckdb_engine's DBAPI
    return _DIALECT[0]


def fetch(rel: SqlRelation, statement: sa.Executable, doing: str) -> tuple[list[str], list[tuple]]:
    """Run ``statement`` (values bound, never inlined); its column names and rows. On a file relation it
    runs on the DuckDB connection directly."""
    if rel.duck is not None:
        columns = fetch_columns(rel, statement, doing)
        return list(columns), list(zip(*(_values(c) for c in columns.values()), strict=True))
    with _database(rel.label, doing, rel.secret), rel.engine.connect() as conn:
        result = conn.execute(statement)
        return list(result.keys()), [tuple(r) for r in result.fetchall()]


def _values(column: Any) -> list:
    """A fetched column as Python values, None for NULL."""
    import numpy as np

    if isinstance(column, np.ma.MaskedArray):
        return [None if m else v for v, m in zip(column.data.tolist(), np.ma.getmaskarray(column), strict=True)]
    return column.tolist()


def run_text(rel: SqlRelation, text: str, doing: str) -> list[tuple]:
    """Run a fixed statement (no values in it) on a file relation's DuckDB connection."""
    with _database(rel.label, doing, rel.secret):
        cursor = _cursor(rel.duck, rel.arrow)
        try:
            return cursor.execute(text).fetchall()
        finally:
            cursor.close()


def fetch_columns(rel: SqlRelation, statement: Any, doing: str) -> dict[str, Any]:
    """Run ``statement`` on a file relation's DuckDB connection: each column as a numpy array (a masked
    array where it holds NULLs), without a Python object per row."""
    compiled = statement.compile(dialect=rel.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[k] for k in (compiled.positiontup or [])]
    with _database(rel.label, doing, rel.secret):
        cursor = _cursor(rel.duck, rel.arrow)
        try:
            cursor.execute(str(compiled), params)
            return cursor.fetchnumpy()
        finally:
            cursor.close()


# --- the query -----------------------------------------------------------------------------------------


def _text(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(column, sa.String)


def missing_anywhere(rel: SqlRelation, columns: Sequence[str]) -> dict[str, bool]:
    """Whether each column holds a NULL or '' in any row of the relation. A Parquet file answers from its
    row-group statistics (null counts; a string column's minimum is '' exactly when it holds ''), a parsed
    CSV from its Arrow buffers; anything they leave open takes one scan."""
    wanted = [c for c in dict.fromkeys(columns) if c in rel.names]
    found: dict[str, bool] = {}
    if rel.path is not None and rel.path.suffix.lower() == ".parquet":
        found.update(_parquet_missing(rel.path, wanted))
    if rel.arrow is not None:
        found.update({c: _arrow_missing(rel.arrow.column(c)) for c in wanted
                      if c in rel.arrow.column_names and c not in found})
    todo = [c for c in wanted if c not in found]
    if todo:
        src = rel.source
        flags = [sa.func.max(sa.case((sa.or_(src.c[c].is_(None), _text(src.c[c]) == ""), 1), else_=0))
                 for c in todo]
        (row,) = fetch(rel, sa.select(*flags).select_from(src), "reading columns")[1]
        found.update({c: bool(v) for c, v in zip(todo, row, strict=True)})
    return {c: found[c] for c in wanted}


def _parquet_missing(path: Path, columns: Sequence[str]) -> dict[str, bool]:
    """What the row-group statistics of a Parquet file prove; a column they leave open is not in the result."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError):
        return {}
    index = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
    out = {}
    for name in columns:
        j = index.get(name)
        if j is None:
            continue
        answer: bool | None = False
        for i in range(meta.num_row_groups):
            chunk = meta.row_group(i).column(j)
            stats = chunk.statistics
            if chunk.num_values == 0:
                continue
            if stats is None or not stats.has_null_count:
                answer = None
                break
            if stats.null_count:
                answer = True
                break
            if stats.physical_type == "BYTE_ARRAY":
                if not stats.has_min_max:
                    answer = None
                    break
                if stats.min in ("", b""):  # a stored minimum is never shortened to nothing
                    answer = True
                    break
            elif stats.physical_type == "FIXED_LEN_BYTE_ARRAY":
                answer = None
                break
        if answer is not None:
            out[name] = answer
    return out


def _arrow_missing(column: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        return True
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            at = pc.index(chunk.dictionary, "").as_py()
            if at >= 0 and pc.any(pc.equal(chunk.indices, at)).as_py():
                return True
        elif pc.any(pc.equal(chunk, "")).as_py():
            return True
    return False


def literal_sql(statement: Any, rel: SqlRelation) -> str:
    """The statement in ``rel``'s dialect with every bound value inlined: for the record, not to run."""
    return str(statement.compile(dialect=rel.dialect, compile_kwargs={"literal_binds": True}))


def text_columns(rel: SqlRelation, names: Sequence[str], doing: str) -> dict[str, Any]:
    """Columns of a file relation as text (NULL as ''), each a numpy array in the file's order."""
    src = rel.source
    return fetch_columns(rel, sa.select(*(sa.func.coalesce(_text(src.c[n]), "").label(n) for n in names))
                         .select_from(src), doing)


def last_day(rel: SqlRelation, column: str) -> str | None:
    """The latest calendar day (YYYY-MM-DD) that a value of ``column`` starts with, in any row: a day
    and a time count as the day."""
    value = _text(rel.source.c[column])
    day = sa.func.substr(value, 1, 10)
    _, rows = fetch(rel, sa.select(day).select_from(rel.source).where(sa.or_(*(value.like(p) for p in ISO_SHAPES)))
                    .group_by(day), f"reading the last day of {column!r}")
    days = []
    for (text,) in rows:
        try:
            days.append(date.fromisoformat(text).isoformat())
        except (TypeError, ValueError):
            continue
    return max(days, default=None)


def first_rows(rel: SqlRelation, condition: sa.ColumnElement, doing: str) -> list[int] | None:
    """The data row numbers (from 1, after the header) of the first rows meeting ``condition``, for a file
    (DuckDB keeps a plain scan in the file's order); None for a database, whose rows have no order."""
    if rel.duck is None:
        return None
    import numpy as np

    mask = fetch_columns(rel, sa.select(sa.func.coalesce(condition, False).label("b")).select_from(rel.source),
                         doing)["b"]
    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))[:SHOW_ROWS]]


def _rows(conn: sa.Connection, statement: sa.Executable) -> list[tuple]:
    return [tuple(r) for r in conn.execute(statement).all()]


def duplicate_keys(rel: SqlRelation, keys: Sequence[str], where: str) -> list[str]:
    """Key values held by more than one row (over all rows): the first few with their counts."""
    absent = [k for k in keys if k not in rel.names]
    if absent:
        return [f"{where}: key column{'s' if len(absent) > 1 else ''} {', '.join(map(shown, absent))} not in "
                f"{rel.label} (columns: {column_list(rel.names)})"]
    cols = [rel.source.c[k] for k in keys]
    n = sa.func.count().label("n")
    conds: list[sa.ColumnElement] = []
    doing = f"{where}: checking keys"
    if rel.dialect.name == "duckdb":  # a 64-bit hash per key first (equal keys, equal hashes): cheaper
        hashed = sa.select(sa.func.count(), sa.func.count(sa.distinct(sa.func.hash(*cols)))).where(*conds)
        _, ((rows, distinct),) = fetch(rel, hashed, doing)
        if rows == distinct:
            return []
    dup = sa.select(*cols, n).where(*conds).group_by(*cols).having(sa.func.count() > 1).subquery("dup")
    _, ((total, rows),) = fetch(rel, sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(dup.c.n), 0)),
                                doing)
    total, rows = int(total), int(rows)  # (a SUM may come back as a float)
    if not total:
        return []
    _, first = fetch(rel, sa.select(dup).order_by(dup.c.n.desc(), *(dup.c[k] for k in keys)).limit(SHOW_FIRST),
                     doing)

    listed = ", ".join(f"({', '.join(map(capped_text, r[:-1]))}) x{r[-1]}" for r in first)
    return [f"{where}: {rel.label} has {total} duplicated keys ({', '.join(keys)}) in {rows} rows: "
            f"{listed}"]


def duplicate_rows(rel: SqlRelation) -> list[str]:
    """Rows equal in every column (as text, NULL as '') to an earlier row: the count, and for a file the
    first row numbers (a table's rows have no order); never their values."""
    import numpy as np


    src = rel.source
    if not rel.names:
        return []
    texts = [sa.func.coalesce(_text(src.c[n]), "") for n in rel.names]
    doing = "checking for duplicate rows"
    distinct = sa.select(*(t.label(f"c{i}") for i, t in enumerate(texts))).select_from(src).distinct() \
        .subquery("foikit_distinct")
    _, ((rows, kinds),) = fetch(rel, sa.select(sa.select(sa.func.count()).select_from(src).scalar_subquery(),
                                               sa.select(sa.func.count()).select_from(distinct)
                                               .scalar_subquery()), doing)
    extra = int(rows) - int(kinds)
    if extra <= 0:
        return []
    first = None
    if rel.duck is not None:  # a file: DuckDB keeps a plain scan in the file's order
        hashed = np.asarray(fetch_columns(rel, sa.select(sa.func.hash(*texts).label("h")).select_from(src),
                                          doing)["h"])
        _, at = np.unique(hashed, return_index=True)
        again = np.ones(len(hashed), dtype=bool)
        again[at] = False
        first = [int(i) + 1 for i in np.flatnonzero(again)[:SHOW_ROWS]]
    return [duplicate_rows_message(rel.label, extra, len(rel.names), first)]


def unknown_categories(rel: SqlRelation, dictionary: Any) -> list[str]:
    """Values the dictionary does not know (in any row: as the pandas engine refuses them when it opens a
    file), for each described column without an 'other' bucket: the first with their counts."""
    out = []
    for column, spec in dictionary.columns.items():
        if spec.categories is None or spec.other is not None or column not in rel.names:
            continue
        value = _text(rel.source.c[column])
        known = [raw for raw in spec.code_map() if raw != ""]
        unknown = sa.and_(value.is_not(None), value != "", value.not_in(known) if known else sa.true())
        _, found = fetch(rel, sa.select(value, sa.func.count()).select_from(rel.source).where(unknown)
                         .group_by(value).order_by(value).limit(SHOW_VALUES + 1), f"checking column {column!r}")
        if found:
            out.append(unknown_categories_message(rel.label, column, dictionary.source,
                                                  sorted((str(v), int(n)) for v, n in found),
                                                  first_rows(rel, unknown, f"checking column {column!r}")))
    return out


def observed_values(rel: SqlRelation, column: str, limit: int | None = None) -> list[str]:
    """Distinct values of a column as text, sorted, NULL shown as '' (for building a spec's categories)."""
    value = sa.func.coalesce(_text(rel.source.c[column]), "")
    statement = sa.select(value).distinct().order_by(value)
    if limit is not None:
        statement = statement.limit(limit)
    with _database(rel.label, f"reading column {column!r}", rel.secret), rel.engine.connect() as conn:
        return sorted({r[0] for r in _rows(conn, statement)})


__all__ = [
    "SqlRelation",
    "duplicate_keys",
    "duplicate_rows",
    "fetch",
    "file_relation",
    "literal_sql",
    "missing_anywhere",
    "observed_values",
    "open_relation",
    "unknown_categories",
]


def count_rows(rel: SqlRelation) -> int:
    if rel.duck is not None:  # no statement to compile: the view's name is ours
        return int(run_text(rel, f"SELECT count(*) FROM {FILE_VIEW}", "counting rows")[0][0])
    return int(fetch(rel, sa.select(sa.func.count()).select_from(rel.source), "counting rows")[1][0][0])
