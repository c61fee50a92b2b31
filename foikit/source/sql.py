"""The count cube computed in the database: one SQL query per part, case-level rows never leave it.

A :class:`SqlRelation` is an SQLAlchemy engine plus the relation holding the case rows: a table, an arbitrary
SELECT used as a subquery (:func:`open_relation`), or a CSV/Parquet file read by an in-memory DuckDB
(:func:`file_relation`), so that one query builder serves every source. :func:`sql_cube` computes a
:class:`foikit.cube.spec.CubeSpec` exactly as the pandas backend (:func:`foikit.cube.engine.pandas_cube`) does and
returns the same coded frame, with the SQL that ran (literal values inlined, for the record).

Every value is compared as text (``CAST(column AS VARCHAR)``): a raw value is what the column shows, whatever
its type. Dates may be DATE/TIMESTAMP columns or ISO text (``YYYY-MM-DD``, optionally followed by a time);
periods are compared on the first ten characters, which order like dates. NULL and '' are both "missing".
All raw values and bounds are bound parameters; nothing from the data or the request is formatted into SQL.

The checks (:func:`problems`, :func:`check`, :func:`duplicate_keys`) each give one-line messages naming
the source (never its password), the column and the offending values with their counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foikit.cube.spec import AFFECTED, COUNT, PAD, CubeSpec, DimSpec, PeriodSpec, empty_result, iso_day
from foikit.exceptions import DataError, capped_text
from foikit.source import credentials

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

    from foikit.source.data import parquet_schema, read_csv_table, shown

    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if suffix not in {".csv", ".parquet"}:
        raise DataError(f"{path}: unsupported data file type {shown(path.suffix)} (use .csv or .parquet)")
    # the readers every engine shares: the same values and the same refusals as the pandas engine
    loaded = read_csv_table(path) if suffix == ".csv" else None
    if suffix == ".parquet":
        parquet_schema(path)
    literal = _quoted(str(path.resolve()))
    duck = duckdb.connect()  # private to this relation; every connection below is a cursor of it
    try:
        # a file DuckDB cannot read is named with the kind of failure, never with its content
        with _database(str(path), "cannot read the file", quote=False):
            if suffix == ".parquet":
                duck.execute(f"CREATE VIEW {FILE_VIEW} AS SELECT * FROM read_parquet({literal})")
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


def _quoted(text: str) -> str:
    """``text`` as an SQL string literal (a path: DuckDB's table functions take no bound parameters here)."""
    return "'" + text.replace("'", "''") + "'"


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


def fetch_columns(rel: SqlRelation, statement: sa.Executable, doing: str) -> dict[str, Any]:
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


def _source_cte(spec: CubeSpec, rel: SqlRelation) -> sa.CTE:
    """Every column the spec reads, as text, of the rows that pass the filters."""
    src = rel.source
    cols = [_text(src.c[c]).label(c) for c in spec.columns]
    conds = [_text(src.c[c]).in_(list(values)) for c, values in spec.filters.items()]
    return sa.select(*cols).select_from(src).where(*conds).cte("foikit_rows")


def _period_case(period: PeriodSpec, value: sa.ColumnElement) -> sa.ColumnElement:
    """Index of the period the date falls in (text of its first ten characters), NULL for none."""
    day = sa.func.substr(value, 1, 10)
    whens = [(sa.and_(day >= start.isoformat(), day < end.isoformat()), i)
             for i, (start, end) in enumerate(zip(period.starts, period.ends, strict=True))]
    return sa.case(*whens, else_=sa.null())


def _dim_case(dim: DimSpec, value: sa.ColumnElement) -> sa.ColumnElement:
    """Index of the published category: merged raw values share a WHEN; NULL when unknown and no 'other'."""
    by_code: dict[int, list[str]] = {}
    for raw, code in dim.code_of().items():
        if raw != "":
            by_code.setdefault(code, []).append(raw)
    empty = sa.or_(value.is_(None), value == "")
    missing = dim.categories.index(dim.missing) if dim.missing in dim.categories else None
    whens = [(empty, sa.null() if missing is None else missing)]
    whens += [(value.in_(raws), code) for code, raws in sorted(by_code.items())]
    other = dim.categories.index(dim.other) if dim.other is not None else None
    return sa.case(*whens, else_=sa.null() if other is None else other)


def cube_query(spec: CubeSpec, rel: SqlRelation) -> sa.Select:
    """The single SELECT (with CTEs) that computes ``spec`` on ``rel``; see :func:`sql_cube`."""
    _check_spec(spec)
    src = _source_cte(spec, rel)
    coded = [_period_case(spec.period, src.c[spec.period.column]).label("p")]
    coded += [_dim_case(d, src.c[d.column]).label(f"d{i}") for i, d in enumerate(spec.dims)]
    coded += [src.c[k].label(f"k{i}") for i, k in enumerate(spec.unit_key)]
    base = sa.select(*coded).select_from(src).cte("foikit_coded")
    dims = [f"d{i}" for i in range(len(spec.dims))]
    names = [spec.period.name, *(d.name for d in spec.dims)]
    if not spec.unit_key:  # count rows
        cells = [base.c.p, *(base.c[d] for d in dims)]
        affected: sa.ColumnElement = sa.literal_column("0")
        counted: sa.FromClause = base
        inside: list[sa.ColumnElement] = [base.c.p.is_not(None)]
    else:  # one row per unit and period first, its codes resolved, then count units
        keys = [base.c[f"k{i}"] for i in range(len(spec.unit_key))]
        picked = [(sa.func.min if d.resolve == "first" else sa.func.max)(base.c[f"d{i}"]).label(f"d{i}")
                  for i, d in enumerate(spec.dims)]
        several = [sa.func.min(base.c[d]) != sa.func.max(base.c[d]) for d in dims]
        flag = sa.case((sa.or_(*several), 1), else_=0) if several else sa.literal_column("0")
        counted = (sa.select(*keys, base.c.p, *picked, flag.label(AFFECTED)).where(base.c.p.is_not(None))
                   .group_by(*keys, base.c.p).cte("foikit_units"))
        cells = [counted.c.p, *(counted.c[d] for d in dims)]
        affected = sa.cast(sa.func.sum(counted.c[AFFECTED]), sa.BigInteger)
        inside = []
    return (sa.select(*(c.label(n) for c, n in zip(cells, names, strict=True)),
                      sa.func.count().label(COUNT), affected.label(AFFECTED))
            .select_from(counted).where(*inside).group_by(*cells).order_by(*cells))


def population_query(spec: CubeSpec, rel: SqlRelation) -> sa.Select | sa.CompoundSelect:
    """What one statement over a part's population (the rows passing its filters) tells: the rows by period
    code (``p``, NULL outside every period), by each filter column of several values (``f0``...) and by the
    raw value of each dimension (``d0``...), with their count ``n``, ``day`` NULL; and in rows of their own,
    the distinct days of the date column (``day``, see :func:`_day_key`; never NULL), which tell whether any
    of those rows has a date that is not a date. GROUPING SETS where the database has them (one scan), else
    a UNION ALL of the two GROUP BYs."""
    _check_spec(spec)
    src = rel.source
    conds = [_text(src.c[c]).in_(list(values)) for c, values in spec.filters.items()]
    value = _text(src.c[spec.period.column])
    cells = [_period_case(spec.period, value).label("p")]
    cells += [_text(src.c[c]).label(f"f{i}") for i, c in enumerate(_shown_filters(spec))]
    # raw values, coded from the dictionary afterwards: a CASE per dimension and row costs more than the
    # GROUP BY itself
    cells += [_text(src.c[d.column]).label(f"d{i}") for i, d in enumerate(spec.dims)]
    day = _day_key(value).label("day")
    n = sa.func.count().label(COUNT)
    if rel.dialect.name in {"duckdb", "postgresql"}:
        inner = sa.select(*cells, day).select_from(src).where(*conds).subquery("foikit_rows")
        cols = [inner.c[c.name] for c in cells]
        sets = sa.func.grouping_sets(sa.tuple_(*cols), sa.tuple_(inner.c.day))
        return sa.select(*cols, inner.c.day, n).group_by(sets)
    nothing = sa.null()
    return sa.union_all(
        sa.select(*cells, nothing.label("day"), n).select_from(src).where(*conds).group_by(*cells),
        sa.select(*(nothing.label(c.name) for c in cells), day, n).select_from(src).where(*conds).group_by(day))


def _shown_filters(spec: CubeSpec) -> list[str]:
    """Filter columns with several wanted values: grouped by, so that the count shows which occur."""
    return [c for c, values in spec.filters.items() if len(values) > 1]


def population(spec: CubeSpec, rel: SqlRelation, where: str) -> tuple[dict[str, Any], dict[str, int], str]:
    """Run :func:`population_query`: the cells as columns (``p``: int64, -1 outside every period; ``f*`` and
    ``d*``: object arrays of text, '' for NULL; ``n``: int64), the count of each distinct day, and the SQL
    (values inlined, for the record)."""
    import numpy as np

    statement = population_query(spec, rel)
    doing = f"{where}: the count query failed"
    if rel.duck is not None:  # numpy arrays, NULLs masked
        got = {name: np.ma.asarray(c) for name, c in fetch_columns(rel, statement, doing).items()}
    else:
        names, rows = fetch(rel, statement, doing)
        columns = zip(*rows, strict=True) if rows else [()] * len(names)
        got = {name: np.ma.MaskedArray([v if v is not None else 0 if name in {"p", COUNT} else "" for v in values],
                                       mask=[v is None for v in values],
                                       dtype=np.int64 if name in {"p", COUNT} else object)
               for name, values in zip(names, columns, strict=True)}
    day = got.pop("day")
    is_day = ~np.ma.getmaskarray(day)
    counts = np.asarray(np.ma.filled(got.pop(COUNT), 0), dtype=np.int64)
    days = dict(zip(day.data[is_day].tolist(), counts[is_day].tolist(), strict=True))
    keep = ~is_day
    cells: dict[str, Any] = {}
    for name, column in got.items():
        if name == "p":
            cells[name] = np.asarray(np.ma.filled(column[keep].astype(np.int64), -1), dtype=np.int64)
        else:
            text = np.asarray(np.ma.filled(column[keep].astype(object), ""), dtype=object)
            text[text == None] = ""  # noqa: E711 (elementwise)
            cells[name] = text
    cells[COUNT] = counts[keep]
    return cells, days, literal_sql(statement, rel)


def covered_days(period: PeriodSpec, rel: SqlRelation, which: Sequence[int]) -> set[int]:
    """Which of the periods ``which`` hold a row of the whole relation with a valid date (filters ignored):
    asked only for periods in which the part counted nothing, where 'no data' and a real 0 differ."""
    value = sa.func.substr(_text(rel.source.c[period.column]), 1, 10)
    inside = sa.or_(*(sa.and_(value >= period.starts[i].isoformat(), value < period.ends[i].isoformat())
                      for i in which))
    _, rows = fetch(rel, sa.select(value).select_from(rel.source).where(inside).group_by(value),
                    "reading periods")
    days = [date.fromisoformat(d) for (d,) in rows if d and _is_day(d)]
    return {i for i in which if any(period.starts[i] <= d < period.ends[i] for d in days)}


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


def literal_sql(statement: sa.Executable, rel: SqlRelation) -> str:
    """The statement in ``rel``'s dialect with every bound value inlined: for the record, not to run."""
    return str(statement.compile(dialect=rel.dialect, compile_kwargs={"literal_binds": True}))


def sql_cube(spec: CubeSpec, rel: SqlRelation, where: str, *, validate: bool = True,
             allow_empty: bool = False, uncoded_ok: bool = False) -> tuple[pd.DataFrame, str]:
    """Compute ``spec`` in the database as one query; return the coded cube (the shape of
    :func:`foikit.cube.spec.empty_result`: period code, a code per dimension, ``n``, ``affected``; non-empty
    groups only, sorted) and the SQL that ran, with its values inlined. ``validate`` first runs
    :func:`check` (raising DataError on bad data); an empty result is a DataError unless ``allow_empty``.
    ``uncoded_ok`` returns a result with missing codes (rows with no category) instead of refusing it, for a
    caller that then runs :func:`check` for the details.

    >>> with file_relation("cases.csv") as rel:  # doctest: +SKIP
    ...     cube, query = sql_cube(spec, rel, "params.parts.0")
    >>> list(cube.columns)  # doctest: +SKIP
    ['year', 'outcome', 'n', 'affected']
    """
    if validate:
        check(spec, rel, where)
    statement = cube_query(spec, rel)
    columns, rows = fetch(rel, statement, f"{where}: the count query failed")
    frame = pd.DataFrame(rows, columns=columns)
    query = literal_sql(statement, rel)
    if frame.empty:
        if not allow_empty:
            raise DataError(f"{where}: no rows of {rel.label} pass the filters in the periods asked for "
                            f"(filter {dict(spec.filters)}, periods {', '.join(spec.period.labels)} by "
                            f"{spec.period.column})")
        return empty_result(spec), query
    if frame.isna().to_numpy().any():
        if uncoded_ok:
            return frame, query
        raise DataError(f"{where}: {rel.label} has values with no category (unknown or missing values without "
                        f"'other'/'missing' in the spec): run foikit.source.sql.check for the details")
    return frame.astype("int64"), query


# --- checks --------------------------------------------------------------------------------------------


def _check_spec(spec: CubeSpec) -> None:
    for dim in spec.dims:
        labels = {*dim.codes.values(), *([dim.other] if dim.other is not None else [])}
        stray = sorted(labels - set(dim.categories))
        if stray:
            raise ValueError(f"DimSpec {dim.name!r}: labels {stray} are not in its categories")


def _rows(conn: sa.Connection, statement: sa.Executable) -> list[tuple]:
    return [tuple(r) for r in conn.execute(statement).all()]


def _counted(pairs: Sequence[tuple[object, int]]) -> str:
    from foikit.source.data import shown

    return ", ".join(f"{shown(v)} ({n} rows)" for v, n in pairs)


def missing_columns(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Columns the spec reads that the relation lacks."""
    absent = [c for c in spec.columns if c not in rel.names]
    if not absent:
        return []
    from foikit.source.data import column_list, shown

    return [f"{where}: column{'s' if len(absent) > 1 else ''} {', '.join(map(shown, absent))} "
            f"{'are' if len(absent) > 1 else 'is'} not in {rel.label} (columns: {column_list(rel.names)})"]


def absent_filter_values(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Filter values that occur nowhere in their column."""

    out = []
    with _database(rel.label, f"{where}: checking filters", rel.secret), rel.engine.connect() as conn:
        for column, wanted in spec.filters.items():
            value = _text(rel.source.c[column])
            found = {r[0] for r in _rows(conn, sa.select(value).where(value.in_(list(wanted))).distinct())}
            absent = [v for v in wanted if v not in found]
            if absent:
                some = _rows(conn, sa.select(value).where(value.is_not(None)).distinct().order_by(value)
                             .limit(SHOW_VALUES))
                out.append(f"{where}.filter.{column}: {absent} not found in column {column!r} of {rel.label} "
                           f"(values: {[capped_text(r[0]) for r in some]})")
    return out


def bad_dates(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Values of the period column (in the rows passing the filters, as the pandas backend) that are not
    ISO dates: shape checked in the database, the calendar on the distinct days in Python."""
    column = spec.period.column
    value = _text(rel.source.c[column])
    present = sa.and_(value.is_not(None), value != "",
                      *(_text(rel.source.c[c]).in_(list(values)) for c, values in spec.filters.items()))
    shaped = sa.or_(*(value.like(p) for p in ISO_SHAPES))
    bad: list[tuple[str, int]] = []
    with _database(rel.label, f"{where}: checking dates", rel.secret), rel.engine.connect() as conn:
        total_bad = conn.execute(sa.select(sa.func.count()).where(present, sa.not_(shaped))
                                 .select_from(rel.source)).scalar_one()
        if total_bad:
            bad = _rows(conn, sa.select(value, sa.func.count()).where(present, sa.not_(shaped))
                        .group_by(value).order_by(value).limit(SHOW_FIRST))
        day = sa.func.substr(value, 1, 10)
        days = _rows(conn, sa.select(day, sa.func.count()).where(present, shaped).group_by(day))
    wrong = sorted((d, n) for d, n in days if not _is_day(d))
    total_bad += sum(n for _, n in wrong)
    bad = sorted([*bad, *wrong])[:SHOW_FIRST]
    if not total_bad:
        return []
    return [f"{where}.date_column: column {column!r} of {rel.label} has {total_bad} values that are not dates "
            f"(YYYY-MM-DD): {_counted(bad)}"]


def is_day(text: str) -> bool:
    """Whether ``text`` is a calendar day written YYYY-MM-DD."""
    return _is_day(text)


def _is_day(text: str) -> bool:
    return len(text) == 10 and iso_day(text) is not None


def unknown_values(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Per dimension without ``other``: raw values (of the rows counted) not in its codes, each with its
    count, the first 20 in sorted order (as the pandas backend); and missing values where ``missing`` is not a
    category."""
    out = []
    src = _source_cte(spec, rel)
    in_period = _period_case(spec.period, src.c[spec.period.column]).is_not(None)
    with _database(rel.label, f"{where}: checking values", rel.secret), rel.engine.connect() as conn:
        for dim in spec.dims:
            value = src.c[dim.column]
            empty = sa.or_(value.is_(None), value == "")
            if dim.missing not in dim.categories:
                n_empty = conn.execute(sa.select(sa.func.count()).select_from(src).where(in_period, empty)
                                       ).scalar_one()
                if n_empty:
                    out.append(f"{where}: column {dim.column!r} of {rel.label} has {n_empty} missing values "
                               f"but {dim.missing!r} is not a category of {dim.name!r}")
            if dim.other is not None:
                continue
            known = [raw for raw in dim.codes if raw != ""]
            n = sa.func.count().label("n")
            unknown = sa.and_(in_period, sa.not_(empty), value.not_in(known) if known else sa.true())
            found = _rows(conn, sa.select(value, n).select_from(src).where(unknown).group_by(value)
                          .order_by(value).limit(SHOW_VALUES + 1))
            if found:
                more = ""
                if len(found) > SHOW_VALUES:
                    total = conn.execute(sa.select(sa.func.count(sa.distinct(value))).select_from(src)
                                         .where(unknown)).scalar_one()
                    more = f" and {total - SHOW_VALUES} more values"
                out.append(f"{where}: column {dim.column!r} of {rel.label} has values that are not in the data "
                           f"dictionary: {_counted(found[:SHOW_VALUES])}{more}")
    return out


def problems(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Everything that keeps ``spec`` from being computed faithfully on ``rel``, as one-line messages:
    missing columns (then nothing else is checked), absent filter values, bad dates, unknown values."""
    _check_spec(spec)
    found = missing_columns(spec, rel, where)
    if found:
        return found
    return [*absent_filter_values(spec, rel, where), *bad_dates(spec, rel, where),
            *unknown_values(spec, rel, where)]


def check(spec: CubeSpec, rel: SqlRelation, where: str) -> None:
    """Raise DataError with the first of :func:`problems` (the count of the others appended)."""
    found = problems(spec, rel, where)
    if found:
        others = f" (and {len(found) - 1} other problems)" if len(found) > 1 else ""
        raise DataError(found[0] + others)


def duplicate_keys(rel: SqlRelation, keys: Sequence[str], where: str, spec: CubeSpec | None = None) -> list[str]:
    """Key values held by more than one row: over all rows, or with ``spec`` over the rows it counts
    (passing its filters, in one of its periods); the first few with their counts."""
    absent = [k for k in keys if k not in rel.names]
    if absent:
        from foikit.source.data import column_list, shown

        return [f"{where}: key column{'s' if len(absent) > 1 else ''} {', '.join(map(shown, absent))} not in "
                f"{rel.label} (columns: {column_list(rel.names)})"]
    cols = [rel.source.c[k] for k in keys]
    n = sa.func.count().label("n")
    conds: list[sa.ColumnElement] = []
    if spec is not None:
        conds = [_text(rel.source.c[c]).in_(list(values)) for c, values in spec.filters.items()]
        conds.append(_period_case(spec.period, _text(rel.source.c[spec.period.column])).is_not(None))
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

    shown = ", ".join(f"({', '.join(map(capped_text, r[:-1]))}) x{r[-1]}" for r in first)
    among = " among the rows counted" if spec is not None else ""
    return [f"{where}: {rel.label} has {total} duplicated keys ({', '.join(keys)}){among} in {rows} rows: "
            f"{shown}"]


def duplicate_rows(rel: SqlRelation) -> list[str]:
    """Rows equal in every column (as text, NULL as '') to an earlier row: the count, and for a file the
    first row numbers (a table's rows have no order); never their values."""
    import numpy as np

    from foikit.source.data import SHOW_ROWS, duplicate_rows_message

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
    from foikit.source.data import unknown_categories_message

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
                                                  sorted((str(v), int(n)) for v, n in found)))
    return out


def padded_values(rel: SqlRelation, columns: Sequence[str], where: str) -> dict[str, str | None]:
    """For each column: a message if some value begins or ends with a space (or any character of
    :data:`foikit.cube.spec.PAD`), else None. One scan counts them; only a column that has some is read
    again, for its first values."""
    src = rel.source
    wanted = [c for c in dict.fromkeys(columns) if c in rel.names]
    if not wanted:
        return {}

    def bad(column: str) -> sa.ColumnElement:
        value = _text(src.c[column])
        return sa.or_(*(value.like(f"{c}%") for c in PAD), *(value.like(f"%{c}") for c in PAD))

    doing = f"{where}: checking values"
    _, (row,) = fetch(rel, sa.select(*(sa.func.sum(sa.case((bad(c), 1), else_=0)) for c in wanted))
                      .select_from(src), doing)
    out: dict[str, str | None] = {}
    for column, n in zip(wanted, row, strict=True):
        if not n:
            out[column] = None
            continue
        value = _text(src.c[column])
        _, found = fetch(rel, sa.select(value, sa.func.count()).select_from(src).where(bad(column))
                         .group_by(value).order_by(value).limit(SHOW_FIRST), doing)
        out[column] = padded_message(where, column, rel.label, int(n), sorted((str(v), int(k)) for v, k in found))
    return out


def padded_message(where: str, column: str, source: str, n: int, first: Sequence[tuple[str, int]]) -> str:
    """The refusal of values with surrounding spaces, the same from every engine."""
    from foikit.source.data import shown

    listed = ", ".join(f"{shown(v)} ({k} rows)" for v, k in first[:SHOW_FIRST])
    return (f"{where}: column {column!r} of {source} has {n} value{'s' if n != 1 else ''} with surrounding "
            f"spaces: {listed}: a filter or category would not match them; remove the spaces from the data")


def _day_key(value: sa.ColumnElement) -> sa.ColumnElement:
    """'' for missing; the first ten characters of a value shaped like an ISO date (a time may follow);
    else the whole value: its distinct values are few, and tell the bad dates and the periods covered."""
    shaped = sa.or_(*(value.like(p) for p in ISO_SHAPES))
    return sa.case((sa.or_(value.is_(None), value == ""), ""), (shaped, sa.func.substr(value, 1, 10)),
                   else_=value)


def column_profile(rel: SqlRelation, values: Sequence[str], days: Sequence[str]) -> dict[tuple[str, str],
                                                                                        list[str]]:
    """In one scan of the relation: the distinct values of each of ``values`` as text, NULL as ''
    (``("values", column)``, as :func:`observed_values`) and the distinct days of each of ``days``
    (``("days", column)``: see :func:`_day_key`), each list sorted. SQLite aggregates each column's distinct
    values into a JSON array; databases with GROUPING SETS (DuckDB, PostgreSQL) group by each column in one
    pass; any other runs one GROUP BY per column."""
    src = rel.source
    wanted = [("values", c) for c in values] + [("days", c) for c in days]
    if not wanted:
        return {}
    exprs = [sa.func.coalesce(_text(src.c[c]), "") if kind == "values" else _day_key(_text(src.c[c]))
             for kind, c in wanted]
    found: dict[tuple[str, str], set[str]] = {w: set() for w in wanted}
    dialect = rel.engine.dialect.name
    with _database(rel.label, "reading columns", rel.secret), rel.engine.connect() as conn:
        if dialect == "sqlite":
            row = conn.execute(sa.select(*(sa.func.json_group_array(e.distinct()) for e in exprs))
                               .select_from(src)).one()
            for w, text in zip(wanted, row, strict=True):
                found[w] = set(json.loads(text))
        elif dialect in {"duckdb", "postgresql"}:
            inner = sa.select(*(e.label(f"c{i}") for i, e in enumerate(exprs))).select_from(src).subquery("v")
            cols = [inner.c[f"c{i}"] for i in range(len(exprs))]
            sets = sa.func.grouping_sets(*(sa.tuple_(c) for c in cols))
            for row in conn.execute(sa.select(*cols, sa.func.grouping(*cols).label("g")).group_by(sets)):
                # GROUPING(...) has a 0 bit for the one column this row is grouped by
                bits = row[-1]
                i = next(i for i in range(len(cols)) if not bits >> (len(cols) - 1 - i) & 1)
                found[wanted[i]].add(row[i])
        else:
            for w, e in zip(wanted, exprs, strict=True):
                found[w] = {r[0] for r in _rows(conn, sa.select(e).select_from(src).group_by(e))}
    return {w: sorted(v) for w, v in found.items()}


def uncoded_rows(spec: CubeSpec, rel: SqlRelation, where: str) -> int:
    """Rows the spec counts that have no category in some dimension (unknown or missing values): with
    distinct units the count query takes the min/max code of each unit, which passes over them."""
    if not spec.dims:
        return 0
    src = _source_cte(spec, rel)
    p = _period_case(spec.period, src.c[spec.period.column])
    uncoded = [_dim_case(d, src.c[d.column]).is_(None) for d in spec.dims]
    with _database(rel.label, f"{where}: checking values", rel.secret), rel.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(src)
                                .where(p.is_not(None), sa.or_(*uncoded))).scalar_one())


def observed_values(rel: SqlRelation, column: str, limit: int | None = None) -> list[str]:
    """Distinct values of a column as text, sorted, NULL shown as '' (for building a spec's categories)."""
    value = sa.func.coalesce(_text(rel.source.c[column]), "")
    statement = sa.select(value).distinct().order_by(value)
    if limit is not None:
        statement = statement.limit(limit)
    with _database(rel.label, f"reading column {column!r}", rel.secret), rel.engine.connect() as conn:
        return sorted({r[0] for r in _rows(conn, statement)})


def covered_periods(spec: CubeSpec, rel: SqlRelation) -> set[int]:
    """Codes of the periods that hold any row of the relation (filters ignored, as the pandas check)."""
    code = _period_case(spec.period, _text(rel.source.c[spec.period.column]))
    with _database(rel.label, "reading periods", rel.secret), rel.engine.connect() as conn:
        return {int(r[0]) for r in _rows(conn, sa.select(code).distinct()) if r[0] is not None}


__all__ = [
    "SqlRelation",
    "absent_filter_values",
    "bad_dates",
    "check",
    "column_profile",
    "covered_days",
    "covered_periods",
    "cube_query",
    "duplicate_keys",
    "duplicate_rows",
    "fetch",
    "file_relation",
    "is_day",
    "literal_sql",
    "missing_anywhere",
    "missing_columns",
    "observed_values",
    "open_relation",
    "padded_values",
    "population",
    "population_query",
    "problems",
    "sql_cube",
    "uncoded_rows",
    "unknown_categories",
    "unknown_values",
]


def extract_query(specs: Sequence[CubeSpec], rel: SqlRelation) -> sa.Select:
    """The rows any of ``specs`` counts, with only the columns they read (as text): the input snapshot."""
    src = rel.source
    columns = list(dict.fromkeys(c for spec in specs for c in spec.columns))
    wanted = []
    for spec in specs:
        conds = [_text(src.c[c]).in_(list(values)) for c, values in spec.filters.items()]
        conds.append(_period_case(spec.period, _text(src.c[spec.period.column])).is_not(None))
        wanted.append(sa.and_(*conds))
    return sa.select(*(_text(src.c[c]).label(c) for c in columns)).select_from(src).where(sa.or_(*wanted))


def extract_rows(specs: Sequence[CubeSpec], rel: SqlRelation, where: str) -> pd.DataFrame:
    """Run :func:`extract_query`; every value a string, '' where missing."""
    statement = extract_query(specs, rel)
    with _database(rel.label, f"{where}: reading the extract", rel.secret), rel.engine.connect() as conn:
        result = conn.execute(statement)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.astype(object).where(frame.notna(), "").astype(str)


def count_rows(rel: SqlRelation) -> int:
    if rel.duck is not None:  # no statement to compile: the view's name is ours
        return int(run_text(rel, f"SELECT count(*) FROM {FILE_VIEW}", "counting rows")[0][0])
    return int(fetch(rel, sa.select(sa.func.count()).select_from(rel.source), "counting rows")[1][0][0])
