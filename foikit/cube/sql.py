"""The count cube as one SQL query, pushed to where the rows are (DuckDB over a file or a frame, or the source
database through SQLAlchemy), with the checks a part's spec makes of the rows it counts.

:mod:`foikit.source.sql` opens the relation; this module only builds statements from a :class:`CubeSpec`
and reads their results, so the same spec counts the same way on every engine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from foikit.cube.spec import AFFECTED, COUNT, PAD, CubeSpec, DimSpec, PeriodSpec, empty_result, iso_day
from foikit.exceptions import DataError, capped_text
from foikit.source.files import column_list, shown
from foikit.source.sql import (
    ISO_SHAPES,
    SHOW_FIRST,
    SHOW_VALUES,
    SqlRelation,
    _database,
    _rows,
    _text,
    fetch,
    fetch_columns,
    first_rows,
    literal_sql,
)


def _filters(spec: CubeSpec, rel: SqlRelation) -> list[sa.ColumnElement]:
    """The part's filters as conditions on the relation's rows (each column's text in its listed values)."""
    return [_text(rel.source.c[c]).in_(list(values)) for c, values in spec.filters.items()]


def _source_cte(spec: CubeSpec, rel: SqlRelation) -> sa.CTE:
    """Every column the spec reads, as text, of the rows that pass the filters."""
    src = rel.source
    cols = [_text(src.c[c]).label(c) for c in spec.columns]
    return sa.select(*cols).select_from(src).where(*_filters(spec, rel)).cte("foikit_rows")


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
    conds = _filters(spec, rel)
    value = _text(src.c[spec.period.column])
    cells = [_period_case(spec.period, value).label("p")]
    cells += [_text(src.c[c]).label(f"f{i}") for i, c in enumerate(_shown_filters(spec))]
    # raw values, coded from the dictionary afterwards: a CASE per dimension and row costs more than the
    # GROUP BY itself
    cells += [_text(src.c[d.column]).label(f"d{i}") for i, d in enumerate(spec.dims)]
    day = _day_key(value).label("day")
    n = sa.func.count().label(COUNT)
    if rel.dialect.name in {"duckdb", "postgresql", "databricks"}:  # databricks: Spark SQL (engine: spark)
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
                        f"'other'/'missing' in the spec): run foikit.cube.sql.check for the details")
    return frame.astype("int64"), query


# --- checks --------------------------------------------------------------------------------------------


def _check_spec(spec: CubeSpec) -> None:
    for dim in spec.dims:
        labels = {*dim.codes.values(), *([dim.other] if dim.other is not None else [])}
        stray = sorted(labels - set(dim.categories))
        if stray:
            raise ValueError(f"DimSpec {dim.name!r}: labels {stray} are not in its categories")


def _counted(pairs: Sequence[tuple[object, int]]) -> str:
    return ", ".join(f"{shown(v)} ({n} rows)" for v, n in pairs)


def missing_columns(spec: CubeSpec, rel: SqlRelation, where: str) -> list[DataError]:
    """Columns the spec reads that the relation lacks."""
    absent = [c for c in spec.columns if c not in rel.names]
    if not absent:
        return []

    return [DataError(where, f"column{'s' if len(absent) > 1 else ''} {', '.join(map(shown, absent))} "
                      f"{'are' if len(absent) > 1 else 'is'} not in {rel.label} (columns: {column_list(rel.names)})",
                      values=absent)]


def absent_filter_values(spec: CubeSpec, rel: SqlRelation, where: str) -> list[DataError]:
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
                out.append(DataError(f"{where}.filter.{column}", f"{absent} not found in column {column!r} of "
                                     f"{rel.label} (values: {[capped_text(r[0]) for r in some]})", values=absent))
    return out


def bad_dates(spec: CubeSpec, rel: SqlRelation, where: str) -> list[DataError]:
    """Values of the period column (in the rows passing the filters, as the pandas backend) that are not
    ISO dates: shape checked in the database, the calendar on the distinct days in Python."""
    column = spec.period.column
    value = _text(rel.source.c[column])
    present = sa.and_(value.is_not(None), value != "",
                      *_filters(spec, rel))
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
    listed, values = _counted(bad), [str(v) for v, _ in bad]
    if rel.duck is not None:  # a file: its rows have an order, so name the first of them
        wrong_days = [d for d, _ in wrong]
        condition = sa.and_(present, sa.or_(sa.not_(shaped), day.in_(wrong_days)) if wrong_days else
                            sa.not_(shaped))
        found = fetch_columns(rel, sa.select(sa.case((condition, value)).label("v")).select_from(rel.source),
                              f"{where}: checking dates")["v"]
        rows = [int(i) for i in np.flatnonzero(~np.ma.getmaskarray(found))[:5]]
        listed = ", ".join(f"row {i + 1} ({shown(found[i])})" for i in rows)
        values = [str(found[i]) for i in rows]
    return [DataError(f"{where}.date_column", f"column {column!r} of {rel.label} has {total_bad} values that are "
                      f"not dates (YYYY-MM-DD): {listed}", values=values)]


def is_day(text: str) -> bool:
    """Whether ``text`` is a calendar day written YYYY-MM-DD."""
    return _is_day(text)


def _is_day(text: str) -> bool:
    return len(text) == 10 and iso_day(text) is not None


def unknown_values(spec: CubeSpec, rel: SqlRelation, where: str) -> list[DataError]:
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
                    out.append(DataError(where, f"column {dim.column!r} of {rel.label} has {n_empty} missing "
                                         f"values but {dim.missing!r} is not a category of {dim.name!r}"))
            if dim.other is not None:
                continue
            known = [raw for raw in dim.codes if raw != ""]
            raw = _text(rel.source.c[dim.column])  # the same test over the relation itself, for row numbers
            raw_empty = sa.or_(raw.is_(None), raw == "")
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
                first = first_rows(rel, sa.and_(*_filters(spec, rel), _period_case(spec.period, _text(
                    rel.source.c[spec.period.column])).is_not(None), sa.not_(raw_empty),
                    raw.not_in(known) if known else sa.true()), f"{where}: checking values")
                at = f" (first at data rows {', '.join(map(str, first))})" if first else ""
                out.append(DataError(where, f"column {dim.column!r} of {rel.label} has values that are not in the "
                                     f"data dictionary: {_counted(found[:SHOW_VALUES])}{more}{at}",
                                     values=[v for v, _ in found[:SHOW_VALUES]]))
    return out


def problems(spec: CubeSpec, rel: SqlRelation, where: str) -> list[DataError]:
    """Everything that keeps ``spec`` from being computed faithfully on ``rel``, as errors:
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
        first = found[0]
        others = f" (and {len(found) - 1} other problems)" if len(found) > 1 else ""
        raise DataError(first.where, first.problem + others, values=first.values)


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


def covered_periods(spec: CubeSpec, rel: SqlRelation) -> set[int]:
    """Codes of the periods that hold any row of the relation (filters ignored, as the pandas check)."""
    code = _period_case(spec.period, _text(rel.source.c[spec.period.column]))
    with _database(rel.label, "reading periods", rel.secret), rel.engine.connect() as conn:
        return {int(r[0]) for r in _rows(conn, sa.select(code).distinct()) if r[0] is not None}


def extract_query(specs: Sequence[CubeSpec], rel: SqlRelation) -> sa.Select:
    """The rows any of ``specs`` counts, with only the columns they read (as text): the input snapshot."""
    src = rel.source
    columns = list(dict.fromkeys(c for spec in specs for c in spec.columns))
    wanted = []
    for spec in specs:
        conds = _filters(spec, rel)
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



__all__ = [
    "absent_filter_values",
    "bad_dates",
    "check",
    "column_profile",
    "covered_days",
    "covered_periods",
    "cube_query",
    "is_day",
    "missing_columns",
    "padded_values",
    "population",
    "population_query",
    "problems",
    "sql_cube",
    "uncoded_rows",
    "unknown_values",
]
