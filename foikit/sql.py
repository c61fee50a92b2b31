"""The count cube computed in the database: one SQL query per part, case-level rows never leave it.

A :class:`SqlRelation` is an SQLAlchemy engine plus the relation holding the case rows: a table, an arbitrary
SELECT used as a subquery (:func:`open_relation`), or a CSV/Parquet file read by an in-memory DuckDB
(:func:`file_relation`), so that one query builder serves every source. :func:`sql_cube` computes a
:class:`foikit.cubespec.CubeSpec` exactly as the pandas backend (:func:`foikit.cube.pandas_cube`) does and
returns the same coded frame, with the SQL that ran (literal values inlined, for the record).

Every value is compared as text (``CAST(column AS VARCHAR)``): a raw value is what the column shows, whatever
its type. Dates may be DATE/TIMESTAMP columns or ISO text (``YYYY-MM-DD``, optionally followed by a time);
periods are compared on the first ten characters, which order like dates. NULL and '' are both "missing".
All raw values and bounds are bound parameters; nothing from the data or the request is formatted into SQL.

The checks (:func:`problems`, :func:`check`, :func:`duplicate_keys`) each give one-line messages naming
the source (never its password), the column and the offending values with their counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foikit.cubespec import AFFECTED, COUNT, CubeSpec, DimSpec, PeriodSpec, empty_result
from foikit.exceptions import DataError

FILE_VIEW = "cases"  # the view file_relation creates over a CSV/Parquet file
SHOW_VALUES = 20  # unknown values listed in a message
SHOW_FIRST = 5  # bad dates / duplicate keys listed in a message
ISO_SHAPES = ("____-__-__", "____-__-__ %", "____-__-__T%")  # LIKE patterns of a date (with a time)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class SqlRelation:
    """Case rows in a database: ``engine``, the ``source`` to select from, and a ``label`` for messages that
    never shows a password. Use as a context manager, or call :meth:`close`."""

    engine: Engine
    source: sa.FromClause
    label: str
    names: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)  # scrubbed from any database error message

    def columns(self) -> list[str]:
        """Column names of the relation, in order."""
        return list(self.names)

    def close(self) -> None:
        """Close every pooled connection (an in-memory DuckDB goes with it)."""
        self.engine.dispose()

    def __enter__(self) -> SqlRelation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _database(label: str, doing: str, secret: str | None = None) -> Iterator[None]:
    """Turn any database error into a one-line DataError naming the source (the password scrubbed)."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        message = _first_line(exc)
        if secret:
            message = message.replace(secret, "***")
        raise DataError(f"{label}: {doing}: {message}") from None


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
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise DataError("cannot parse the database URL (expected dialect+driver://user:password@host/db)") \
            from None
    shown = parsed.render_as_string(hide_password=True)
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
    """A CSV (read with every value as text) or Parquet file as a view in an in-memory DuckDB, so that large
    files are counted without loading them into pandas.

    >>> with file_relation("cases.parquet") as rel:  # doctest: +SKIP
    ...     frame, query = sql_cube(spec, rel, "params.parts.0")
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise DataError(f"{path}: unsupported data file type {path.suffix!r} (use .csv or .parquet)")
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    with _database(str(path), "cannot open"):
        engine = sa.create_engine("duckdb:///:memory:")
    literal = sa.literal(str(path.resolve()), sa.String).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    reader = (f"read_csv({literal}, all_varchar = true, header = true)" if suffix == ".csv"
              else f"read_parquet({literal})")
    ddl = f"CREATE OR REPLACE VIEW {FILE_VIEW} AS SELECT * FROM {reader}"

    @sa.event.listens_for(engine, "connect")
    def _view(dbapi_connection: object, _record: object) -> None:  # every new in-memory database
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(ddl)
        cursor.close()

    try:
        names = _probe(engine, sa.table(FILE_VIEW), str(path), None, "cannot read the file")
    except DataError:
        engine.dispose()
        raise
    source = sa.table(FILE_VIEW, *(sa.column(n) for n in names))
    return SqlRelation(engine=engine, source=source, label=str(path), names=names)


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


def literal_sql(statement: sa.Executable, rel: SqlRelation) -> str:
    """The statement in ``rel``'s dialect with every bound value inlined: for the record, not to run."""
    return str(statement.compile(dialect=rel.engine.dialect, compile_kwargs={"literal_binds": True}))


def sql_cube(spec: CubeSpec, rel: SqlRelation, where: str, *, validate: bool = True,
             allow_empty: bool = False) -> tuple[pd.DataFrame, str]:
    """Compute ``spec`` in the database as one query; return the coded cube (the shape of
    :func:`foikit.cubespec.empty_result`: period code, a code per dimension, ``n``, ``affected``; non-empty
    groups only, sorted) and the SQL that ran, with its values inlined. ``validate`` first runs
    :func:`check` (raising DataError on bad data); an empty result is a DataError unless ``allow_empty``.

    >>> with file_relation("cases.csv") as rel:  # doctest: +SKIP
    ...     cube, query = sql_cube(spec, rel, "params.parts.0")
    >>> list(cube.columns)  # doctest: +SKIP
    ['year', 'outcome', 'n', 'affected']
    """
    if validate:
        check(spec, rel, where)
    statement = cube_query(spec, rel)
    with _database(rel.label, f"{where}: the count query failed", rel.secret), rel.engine.connect() as conn:
        result = conn.execute(statement)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    query = literal_sql(statement, rel)
    if frame.empty:
        if not allow_empty:
            raise DataError(f"{where}: no rows of {rel.label} pass the filters in the periods asked for "
                            f"(filter {dict(spec.filters)}, periods {', '.join(spec.period.labels)} by "
                            f"{spec.period.column})")
        return empty_result(spec), query
    if frame.isna().to_numpy().any():
        raise DataError(f"{where}: {rel.label} has values with no category (unknown or missing values without "
                        f"'other'/'missing' in the spec): run foikit.sql.check for the details")
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
    return ", ".join(f"{v!r} ({n} rows)" for v, n in pairs)


def missing_columns(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Columns the spec reads that the relation lacks."""
    absent = [c for c in spec.columns if c not in rel.names]
    if not absent:
        return []
    return [f"{where}: column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))} "
            f"{'are' if len(absent) > 1 else 'is'} not in {rel.label} (columns: {', '.join(rel.names)})"]


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
                           f"(values: {[r[0] for r in some]})")
    return out


def bad_dates(spec: CubeSpec, rel: SqlRelation, where: str) -> list[str]:
    """Values of the period column (in any row, as the pandas backend) that are not ISO dates: shape
    checked in the database, the calendar on the distinct days in Python."""
    column = spec.period.column
    value = _text(rel.source.c[column])
    present = sa.and_(value.is_not(None), value != "")
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


def _is_day(text: str) -> bool:
    if not _ISO_DAY.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


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


def duplicate_keys(rel: SqlRelation, keys: Sequence[str], where: str) -> list[str]:
    """Key values (over all rows) held by more than one row: the first few with their counts."""
    absent = [k for k in keys if k not in rel.names]
    if absent:
        return [f"{where}: key column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))} not in "
                f"{rel.label} (columns: {', '.join(rel.names)})"]
    cols = [rel.source.c[k] for k in keys]
    n = sa.func.count().label("n")
    dup = sa.select(*cols, n).group_by(*cols).having(sa.func.count() > 1).subquery("dup")
    with _database(rel.label, f"{where}: checking keys", rel.secret), rel.engine.connect() as conn:
        total, rows = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(dup.c.n), 0))
                                   ).one()
        if not total:
            return []
        first = _rows(conn, sa.select(dup).order_by(dup.c.n.desc(), *(dup.c[k] for k in keys))
                      .limit(SHOW_FIRST))
    shown = ", ".join(f"({', '.join(map(str, r[:-1]))}) x{r[-1]}" for r in first)
    return [f"{where}: {rel.label} has {total} duplicated keys ({', '.join(keys)}) in {rows} rows: {shown}"]


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
    "covered_periods",
    "cube_query",
    "duplicate_keys",
    "file_relation",
    "literal_sql",
    "missing_columns",
    "observed_values",
    "open_relation",
    "problems",
    "sql_cube",
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
    with _database(rel.label, "counting rows", rel.secret), rel.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(rel.source)).scalar_one())
