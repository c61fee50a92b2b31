"""Benchmark of the count cube: foikit's pandas, DuckDB and SQL paths against a plain pandas groupby and a plain
DuckDB GROUP BY, measured in the same run, on synthetic data from `foikit synth`.

    python bench/bench_cube.py [--rows 1000000 10000000] [--repeat 3] [--formats parquet csv] [--spark]

Every part of the example request (params/01.FOI.23.032341.yaml) is counted. The data files (Parquet and CSV)
and a SQLite database loaded with the same rows are made once and kept in ``--data-dir`` (default
``$TMPDIR/foikit-bench-data``) for later runs. Each run of each case is a fresh subprocess, so that its peak RSS
is its own: the high-water mark (VmHWM, which ``getrusage(RUSAGE_SELF).ru_maxrss`` reports too once it is above
the parent's RSS; both are recorded) after a reset through ``/proc/self/clear_refs`` once the imports are done.
Times are medians of ``--repeat`` runs; a case whose first run takes longer than ``--slow`` seconds runs once.
The markdown table goes to stdout; ``bench/cube_results.md`` is rewritten unless ``--no-write`` (text below its notes
marker is kept). If FOIKIT_TEST_POSTGRES_URL is set, a PostgreSQL table is loaded once and measured too.
``--spark`` adds foikit's Spark path (``engine: spark``) and a plain Spark SQL GROUP BY, each in a local
session (``local[2]``, or FOIKIT_SPARK_MASTER) started before the clock does: its start-up is reported apart.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "01.FOI.23.032341.yaml"
RESULTS = ROOT / "bench" / "cube_results.md"
NOTES_MARKER = "<!-- notes: text below this line is kept when bench_cube.py rewrites this file -->"
PG_ENV = "FOIKIT_TEST_POSTGRES_URL"
SQLITE_TABLE = "cases"
MB = 1024 * 1024
MISSING = "Not recorded"  # how foikit labels '' / NULL; plain results are mapped to it for the comparison only
TIME_TARGET = 1.2  # within 1.2x of the faster plain baseline
MEMORY_TARGET = 2.0  # peak memory under 2x the input's size in memory


def default_data_dir() -> Path:
    return Path(os.environ.get("TMPDIR") or "/tmp") / "foikit-bench-data"


def dictionary_path() -> Path:
    """The example's data dictionary, as shipped in the installed package."""
    spec = importlib.util.find_spec("foikit")
    assert spec is not None and spec.origin is not None, "foikit is not installed"
    return Path(spec.origin).parent / "data" / "conduct_allegations.yaml"


# --- the child: one case, one run, one process -----------------------------------------------------------


def rss_now_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); ru_maxrss follows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_kb() -> int:
    """This process's high-water RSS since the last reset_peak (VmHWM). ``ru_maxrss`` says the same once the
    mark is above the parent's RSS: Linux starts a child's ``ru_maxrss`` at the RSS of the process it was
    forked from (the high-water mark before exec), which no reset clears; both are recorded."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def digest(entries: list[tuple[dict[str, str], int]]) -> str:
    """A fingerprint of a cube's non-zero cells, independent of dimension and row order."""
    cells = sorted((json.dumps(sorted(key.items())), int(n)) for key, n in entries if n)
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]


class Phases:
    """Wall time spent in named foikit functions, by wrapping the module attributes that foikit looks up at
    call time (nested calls are counted in both), and the SQL statements run."""

    WATCHED: ClassVar[dict[str, list[str]]] = {
        "foikit.source.data": ["check_keys", "_key_hashes", "sha256_file", "read_coverage"],
        "foikit.cube.engine": ["spec_for", "profile", "missing_anywhere", "build_spec", "cube_from_codes",
                               "_count_in_database"],
        "foikit.source.sql": ["file_relation", "open_relation", "duplicate_keys", "count_rows", "missing_anywhere"],
        "foikit.cube.sql": ["column_profile", "population", "covered_days", "check", "sql_cube"],
    }
    # statements a file relation runs on its DuckDB connection directly (no SQLAlchemy events)
    RAW: ClassVar[list[str]] = ["fetch_columns", "run_text"]

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.queries = 0
        self.query_seconds = 0.0
        self._started: list[float] = []

    def install(self) -> None:
        import importlib

        import sqlalchemy as sa

        for module_name, names in self.WATCHED.items():
            module = importlib.import_module(module_name)
            for name in names:
                fn = getattr(module, name, None)
                if callable(fn):
                    setattr(module, name, self._wrap(f"{module_name.rsplit('.', 1)[1]}.{name}", fn))

        for module_name in ("foikit.source.sql", "foikit.cube.sql"):  # each binds its own name
            sql = importlib.import_module(module_name)
            for name in self.RAW:
                fn = getattr(sql, name, None)
                if callable(fn):
                    setattr(sql, name, self._count_raw(fn))

        @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
        def _before(*_args: object) -> None:
            self._started.append(time.perf_counter())

        @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
        def _after(*_args: object) -> None:
            if self._started:
                self.query_seconds += time.perf_counter() - self._started.pop()
            self.queries += 1

    def _count_raw(self, fn: Callable) -> Callable:
        def counted(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.query_seconds += time.perf_counter() - start
                self.queries += 1

        return counted

    def _wrap(self, label: str, fn: Callable) -> Callable:
        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed


def cube_digest(cube: object) -> str:
    counts = cube.counts  # type: ignore[attr-defined]
    names = list(counts.index.names)
    return digest([(dict(zip(names, key, strict=True)), n) for key, n in counts.items()])


def plain_digest(names: list[str], rows: list[tuple]) -> str:
    """Plain results hold raw values: '' and NULL are what foikit publishes as 'Not recorded'."""
    return digest([(dict(zip(names, (MISSING if v in ("", None) else str(v) for v in row[:-1]), strict=True)),
                    row[-1]) for row in rows])


def plain_parts(parts: list) -> list[dict]:
    """What a plain group-by needs of each part: filter, years as text, the group columns."""
    out = []
    for part in parts:
        if part.period != "calendar_year":
            raise SystemExit(f"plain baselines handle calendar years only, not {part.period} ({part.name})")
        out.append({"name": part.name, "filter": {c: [str(x) for x in (v if isinstance(v, list) else [v])]
                                                 for c, v in part.filter.items()},
                    "years": [str(y) for y in part.years], "date": part.date_column, "period": part.period_dim,
                    "dims": [d for d in part.dims if d != part.period_dim]})
    return out


def plain_sql(p: dict, relation: str, mark: str) -> tuple[str, list[str]]:
    """One GROUP BY with the part's filter; ``mark`` is the placeholder of the driver."""
    cond, args = [], []
    for column, values in p["filter"].items():
        cond.append(f'"{column}" IN ({", ".join([mark] * len(values))})')
        args += values
    cond.append(f'substr("{p["date"]}", 1, 4) IN ({", ".join([mark] * len(p["years"]))})')
    args += p["years"]
    cols = ", ".join(f'"{d}"' for d in p["dims"])
    group = ", ".join(str(i + 1) for i in range(len(p["dims"]) + 1))
    return (f'SELECT substr("{p["date"]}", 1, 4) AS "{p["period"]}", {cols}, count(*) AS n FROM {relation} '
            f"WHERE {' AND '.join(cond)} GROUP BY {group}"), args


def child(kind: str, source: str, table: str | None) -> dict:
    # every child imports the same libraries first, so that the base RSS is comparable across cases
    import duckdb
    import duckdb_engine  # noqa: F401
    import numpy  # noqa: F401
    import pandas as pd
    import pyarrow  # noqa: F401
    import sqlalchemy as sa

    import foikit.cube.engine
    import foikit.cube.sql
    import foikit.source.data
    import foikit.source.sql
    from foikit.request.params import DataSource, load_request

    parts = load_request(PARAMS).parts
    phases = Phases()
    phases.install()
    gc.collect()
    out: dict = {"base_kb": rss_now_kb(), "reset": reset_peak(), "phases": {}}
    dictionary = str(dictionary_path())

    if kind in {"spark", "plain-spark"}:  # the session is started before the clock, and timed apart
        import foikit.source.spark

        start = time.perf_counter()
        spark = foikit.source.spark.session()
        spark.sql("SELECT 1").collect()
        out["session_s"] = time.perf_counter() - start
        gc.collect()
        out["base_kb"] = rss_now_kb()
        reset_peak()
    if kind in {"duckdb", "sqlite", "postgres", "spark"}:  # foikit's own paths
        if kind in {"duckdb", "spark"}:
            ds = DataSource(path=source, engine=kind, dictionary=dictionary)
        elif kind == "sqlite":
            ds = DataSource(url=f"sqlite:///{source}", table=table, dictionary=dictionary)
        else:
            ds = DataSource(url=os.environ[PG_ENV], table=table, dictionary=dictionary)
        start = time.perf_counter()
        data = foikit.source.data.open_source(ds)
        opened = time.perf_counter()
        out["loaded_kb"] = rss_now_kb()
        out["open_peak_kb"] = peak_kb()
        reset_peak()
        cubes = [foikit.cube.engine.count_cube(data, part, f"params.parts.{i}") for i, part in enumerate(parts)]
        out["sha256"] = data.sha256  # the fingerprint may still be computing (DuckDB path): it is part of the time
        done = time.perf_counter()
        out["count_peak_kb"] = peak_kb()
        out["peak_kb"] = max(out["open_peak_kb"], out["count_peak_kb"])
        out["phases"] = {"open": opened - start, "count": done - opened}
        out["total"] = done - start
        out["n"] = [c.n_rows for c in cubes]
        out["digest"] = [cube_digest(c) for c in cubes]
        data.relation.close()
    elif kind == "plain-pandas":
        specs = plain_parts(parts)
        start = time.perf_counter()
        if source.endswith(".parquet"):
            frame = pd.read_parquet(source)
        else:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        read = time.perf_counter()
        out["loaded_kb"] = rss_now_kb()
        out["open_peak_kb"] = peak_kb()
        reset_peak()
        results = []
        for p in specs:
            mask = None
            for column, values in p["filter"].items():
                hit = frame[column].isin(values)
                mask = hit if mask is None else mask & hit
            rows = frame.loc[mask, [p["date"], *p["dims"]]] if mask is not None else frame[[p["date"], *p["dims"]]]
            year = rows[p["date"]].str[:4]
            rows = rows[year.isin(p["years"])].assign(**{p["period"]: year})
            results.append(rows.groupby([p["period"], *p["dims"]], observed=True, dropna=False).size())
        done = time.perf_counter()
        out["count_peak_kb"] = peak_kb()
        out["peak_kb"] = max(out["open_peak_kb"], out["count_peak_kb"])
        out["phases"] = {"open": read - start, "count": done - read}
        out["total"] = done - start
        out["n"] = [int(r.sum()) for r in results]
        out["digest"] = [plain_digest([p["period"], *p["dims"]], [(*k, n) for k, n in r.items()])
                         for p, r in zip(specs, results, strict=True)]
        out["input_bytes"] = int(frame.memory_usage(deep=True).sum())
    elif kind in {"plain-duckdb", "plain-sqlite", "plain-postgres", "plain-spark"}:
        specs = plain_parts(parts)
        results = []
        start = time.perf_counter()
        if kind == "plain-spark":  # the same GROUP BY in Spark SQL: backtick identifiers, ? parameters
            reader = spark.read
            frame = (reader.parquet(source) if source.endswith(".parquet")
                     else reader.csv(source, header=True, inferSchema=False))
            frame.createOrReplaceTempView("plain_cases")
            for p in specs:
                query, args = plain_sql(p, "plain_cases", "?")
                results.append([tuple(r) for r in spark.sql(query.replace('"', "`"), args=args).collect()])
        elif kind == "plain-duckdb":
            con = duckdb.connect()
            reader = ("read_parquet(?)" if source.endswith(".parquet")
                      else "read_csv(?, all_varchar = true, header = true)")
            for p in specs:
                query, args = plain_sql(p, reader, "?")
                results.append(con.execute(query, [source, *args]).fetchall())
            con.close()
        elif kind == "plain-sqlite":
            con = sqlite3.connect(source)
            for p in specs:
                query, args = plain_sql(p, f'"{table}"', "?")
                results.append(con.execute(query, args).fetchall())
            con.close()
        else:
            engine = sa.create_engine(os.environ[PG_ENV])
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                for p in specs:
                    query, args = plain_sql(p, f'"{table}"', "%s")
                    with raw.cursor() as cur:
                        cur.execute(query, args)
                        results.append(cur.fetchall())
            engine.dispose()
        done = time.perf_counter()
        out["peak_kb"] = out["count_peak_kb"] = peak_kb()
        out["phases"] = {"count": done - start}
        out["total"] = done - start
        out["n"] = [sum(r[-1] for r in rows) for rows in results]
        out["digest"] = [plain_digest([p["period"], *p["dims"]], rows) for p, rows in zip(specs, results, strict=True)]
    else:
        raise SystemExit(f"unknown case kind {kind!r}")
    out["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["breakdown"] = {k: round(v, 3) for k, v in sorted(phases.seconds.items(), key=lambda kv: -kv[1])}
    out["calls"] = phases.calls
    out["queries"] = phases.queries
    out["query_seconds"] = phases.query_seconds
    return out


# --- the parent: data, cases, table ----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench_cube {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def synth(rows: int, seed: int, out: Path) -> None:
    """Write the data file with `foikit synth` (the installed command, or its entry point)."""
    exe = shutil.which("foikit")
    cmd = ([exe] if exe else [sys.executable, "-c", "import sys; from foikit.cli import main; sys.exit(main())"])
    start = time.perf_counter()
    subprocess.run([*cmd, "synth", "--rows", str(rows), "--seed", str(seed), "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    log(f"generated {out.name} in {time.perf_counter() - start:.0f} s")


def data_file(data_dir: Path, rows: int, seed: int, fmt: str) -> Path:
    path = data_dir / f"synth-{rows}-s{seed}.{fmt}"
    if not path.is_file():
        synth(rows, seed, path)
    return path


def sqlite_db(data_dir: Path, rows: int, seed: int, csv_path: Path) -> Path:
    """The same rows in a SQLite table (every column TEXT, '' where missing, no index), loaded once."""
    path = data_dir / f"synth-{rows}-s{seed}.sqlite"
    if path.is_file():
        return path
    start = time.perf_counter()
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        con.execute(f'CREATE TABLE "{SQLITE_TABLE}" ({", ".join(f"{chr(34)}{c}{chr(34)} TEXT" for c in header)})')
        insert = f'INSERT INTO "{SQLITE_TABLE}" VALUES ({", ".join("?" * len(header))})'
        while True:
            chunk = [row for _, row in zip(range(20_000), reader, strict=False)]
            if not chunk:
                break
            con.executemany(insert, chunk)
    con.commit()
    con.close()
    tmp.replace(path)
    log(f"loaded {path.name} (SQLite) in {time.perf_counter() - start:.0f} s")
    return path


def postgres_table(rows: int, seed: int, csv_path: Path) -> str:
    """The same rows in a PostgreSQL table (TEXT columns; COPY loads '' as NULL), loaded once per database."""
    import sqlalchemy as sa

    table = f"foikit_bench_{rows}_s{seed}"
    engine = sa.create_engine(os.environ[PG_ENV])
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None
            if exists and conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar() == rows:
                return table
        start = time.perf_counter()
        with open(csv_path, encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(f'DROP TABLE IF EXISTS "{table}"')
            cur.execute(f'CREATE TABLE "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)} TEXT" for c in header)})')
            copy_sql = f'COPY "{table}" FROM STDIN WITH (FORMAT csv, HEADER true)'
            with open(csv_path, "rb") as fh:
                if hasattr(cur, "copy"):  # psycopg 3
                    with cur.copy(copy_sql) as copy:
                        while block := fh.read(1 << 20):
                            copy.write(block)
                else:  # psycopg2
                    cur.copy_expert(copy_sql, fh)
            raw.commit()
            cur.execute(f'ANALYZE "{table}"')
            raw.commit()
        finally:
            raw.close()
        log(f"loaded {table} (PostgreSQL) in {time.perf_counter() - start:.0f} s")
        return table
    finally:
        engine.dispose()


@dataclass
class Case:
    kind: str  # pandas, duckdb, sqlite, postgres, plain-pandas, plain-duckdb, plain-sqlite, plain-postgres
    fmt: str  # parquet, csv, sqlite, postgres
    source: str
    table: str | None = None
    runs: list[dict] = field(default_factory=list)
    error: str | None = None
    loads: list[tuple[float, float]] = field(default_factory=list)  # load average before each run
    parent_kb: int = 0  # this script's RSS when it started the runs

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def median(self, key: str, phase: str | None = None) -> float | None:
        values = [r["phases"].get(phase) if phase else r.get(key) for r in self.runs]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def peak(self, key: str = "peak_kb") -> int | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return max(values) if values else None

    def typical(self) -> dict | None:
        """The run whose total time is the median one."""
        if not self.runs:
            return None
        ordered = sorted(self.runs, key=lambda r: r["total"])
        return ordered[(len(ordered) - 1) // 2]


LABELS = {
    "duckdb": "foikit DuckDB path",
    "sqlite": "foikit SQL path, SQLite",
    "postgres": "foikit SQL path, PostgreSQL",
    "plain-pandas": "plain pandas groupby",
    "plain-duckdb": "plain DuckDB GROUP BY",
    "plain-sqlite": "plain SQLite GROUP BY (reference)",
    "plain-postgres": "plain PostgreSQL GROUP BY (reference)",
    "spark": "foikit Spark path",
    "plain-spark": "plain Spark SQL GROUP BY",
}


def run_case(case: Case, repeat: int, slow: float, timeout: float) -> None:
    for i in range(repeat):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.kind, "--source", case.source]
        case.parent_kb = max(case.parent_kb, rss_now_kb())
        if case.table:
            cmd += ["--table", case.table]
        case.loads.append(os.getloadavg()[:2])
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            case.error = f"timed out after {timeout:.0f} s"
            log(f"  {case.label} ({case.fmt}): {case.error}")
            return
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            case.error = f"failed (exit {proc.returncode}): {tail[:200]}"
            log(f"  {case.label} ({case.fmt}): {case.error}")
            return
        result = json.loads(lines[-1].removeprefix("RESULT "))
        case.runs.append(result)
        log(f"  {case.label} ({case.fmt}) run {i + 1}: {result['total']:.2f} s, peak "
            f"{result['peak_kb'] / 1024:.0f} MB")
        if result["total"] > slow:
            break


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_mb(kb: float | None) -> str:
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def fmt_x(x: float | None, target: float | None = None) -> str:
    if x is None:
        return "-"
    text = f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"
    return f"**{text}**" if target is not None and x > target else text


@dataclass
class Size:
    rows: int
    cases: list[Case]
    input_bytes: dict[str, int]  # by file format: the plain pandas frame's memory_usage(deep=True)

    def find(self, kind: str, fmt: str) -> Case | None:
        return next((c for c in self.cases if c.kind == kind and c.fmt == fmt and c.runs), None)

    def fastest_plain(self, fmt: str) -> tuple[float, str] | None:
        """The faster plain baseline on this file format (Parquet for the databases' rows)."""
        fmt = fmt if fmt in {"parquet", "csv"} else "parquet"
        found = [(c.median("total"), c.label) for k in ("plain-pandas", "plain-duckdb")
                 if (c := self.find(k, fmt)) is not None]
        return min(found) if found else None

    def input_kb(self, fmt: str) -> float | None:
        fmt = fmt if fmt in self.input_bytes else "parquet"
        value = self.input_bytes.get(fmt)
        return None if value is None else value / 1024


def table_rows(size: Size) -> list[list[str]]:
    out = []
    for case in size.cases:
        fmt = case.fmt
        where = {"parquet": "Parquet", "csv": "CSV", "sqlite": "SQLite table", "postgres": "PostgreSQL table"}[fmt]
        if not case.runs:
            out.append([f"{size.rows:,}", case.label, where, "0", case.error or "not run", *["-"] * 10])
            continue
        best = size.fastest_plain(fmt)
        total = case.median("total")
        base = statistics.median(r["base_kb"] for r in case.runs)
        peak = case.peak()
        input_kb = size.input_kb(fmt)
        ratio = total / best[0] if best and not case.kind.startswith("plain-") else None
        grow = (peak - base) / input_kb if peak and input_kb else None
        whole = peak / input_kb if peak and input_kb else None
        typical = case.typical() or {}
        queries = str(typical.get("queries", "")) if case.kind in {"duckdb", "sqlite", "postgres", "spark"} else ""
        open_s = case.median("", "open")
        what = "load+count" if case.kind == "plain-pandas" else \
            "open+count" if case.kind in {"duckdb", "sqlite", "postgres", "spark"} else "one query per part"
        out.append([f"{size.rows:,}", case.label, where, str(len(case.runs)), f"{what}: {fmt_s(total)}",
                    fmt_s(open_s), fmt_s(case.median("", "count")), fmt_x(ratio, TIME_TARGET), fmt_mb(peak),
                    fmt_mb(peak - base if peak else None), fmt_mb(input_kb), fmt_x(whole),
                    fmt_x(grow, MEMORY_TARGET), queries])
        if case.kind == "plain-pandas":  # the same run, without the load
            count = case.median("", "count")
            loaded = statistics.median(r["loaded_kb"] for r in case.runs)
            count_peak = case.peak("count_peak_kb")
            out.append([f"{size.rows:,}", f"{case.label}, count only (frame loaded)", where, str(len(case.runs)),
                        f"count: {fmt_s(count)}", "", "", "", "",
                        fmt_mb(count_peak - loaded if count_peak else None), fmt_mb(input_kb), "",
                        fmt_x((count_peak - loaded) / input_kb if count_peak and input_kb else None, MEMORY_TARGET),
                        ""])
    return out


HEADER = ["rows", "path", "input", "runs", "time s (median)", "open/load s", "count s", "x faster plain",
          "peak RSS MB", "peak - base MB", "input in memory MB", "peak / input", "(peak - base) / input",
          "SQL queries"]


def markdown_table(sizes: list[Size]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for size in sizes:
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(size)]
    return "\n".join(lines)


def breakdown_table(size: Size) -> str:
    """Where foikit's time goes: seconds in its functions (nested calls counted in both), typical run."""
    lines = ["| path | input | total s | open/load s | count s | SQL queries (s in the database) | "
             "largest parts (s, calls) |", "|---|---|---|---|---|---|---|"]
    for case in size.cases:
        if case.kind.startswith("plain-") or not case.runs:
            continue
        run = case.typical() or {}
        top = ", ".join(f"{name} {secs:.2f} ({run['calls'].get(name, 0)})"
                        for name, secs in list(run["breakdown"].items())[:7])
        q = f"{run['queries']} ({run['query_seconds']:.2f})" if run.get("queries") else "0"
        lines.append(f"| {case.label} | {case.fmt} | {fmt_s(run['total'])} | {fmt_s(run['phases'].get('open'))} | "
                     f"{fmt_s(run['phases'].get('count'))} | {q} | {top} |")
    return "\n".join(lines)


def agreement(sizes: list[Size]) -> list[str]:
    """Every path must give the same cube (non-zero cells, labels) as the plain baselines."""
    out = []
    for size in sizes:
        digests = {(c.label, c.fmt): tuple(c.runs[0]["digest"]) for c in size.cases if c.runs}
        distinct = set(digests.values())
        if len(distinct) == 1:
            out.append(f"{size.rows:,} rows: all {len(digests)} cases gave identical cubes for every part "
                       f"(rows counted per part: {', '.join(f'{n:,}' for n in size.cases[0].runs[0]['n'])}).")
        elif distinct:
            groups: dict[tuple, list[str]] = {}
            for key, d in digests.items():
                groups.setdefault(d, []).append(f"{key[0]} ({key[1]})")
            out.append(f"{size.rows:,} rows: **the cubes differ**: " + "; ".join(" = ".join(g) for g in
                                                                                  groups.values()))
    return out


SAME_ENGINE = {"duckdb": "plain-duckdb", "sqlite": "plain-sqlite",
               "postgres": "plain-postgres", "spark": "plain-spark"}


def reading(sizes: list[Size]) -> list[str]:
    """Each foikit path against the two targets, from the numbers (no judgement added)."""
    out = []
    for size in sizes:
        for case in size.cases:
            if case.kind.startswith("plain-") or not case.runs:
                continue
            best = size.fastest_plain(case.fmt)
            total = case.median("total")
            base = statistics.median(r["base_kb"] for r in case.runs)
            input_kb = size.input_kb(case.fmt)
            peak = case.peak()
            ratio = total / best[0] if best else None
            grow = (peak - base) / input_kb if peak and input_kb else None
            time_ok = ratio is not None and ratio <= TIME_TARGET
            mem_ok = grow is not None and grow < MEMORY_TARGET
            same = size.find(SAME_ENGINE[case.kind], case.fmt)
            same_ok = same is not None and bool(same.median("total")) and \
                total / same.median("total") <= TIME_TARGET
            versus = (f" (the {same.label} on the same input: {fmt_s(same.median('total'))} s, so "
                      f"{fmt_x(total / same.median('total'))}: {'met' if same_ok else '**missed**'} against the "
                      "same engine)" if same and same.median("total") else "")
            out.append(f"- {size.rows:,} rows, {case.label} ({case.fmt}): time {fmt_s(total)} s = "
                       f"{fmt_x(ratio)} the {best[1] if best else '?'} ({fmt_s(best[0] if best else None)} s): "
                       f"{'met' if time_ok else '**missed**'}{versus}; memory {fmt_mb(peak - base)} MB over the "
                       f"base = {fmt_x(grow)} the input: {'met' if mem_ok else '**missed**'}.")
    return out


def machine() -> list[str]:
    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), "0")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "?")

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}",
            f"RAM {int(mem) / 1024 / 1024:.1f} GiB; Linux {platform.release()}",
            f"Python {platform.python_version()}; pandas {version('pandas')}, duckdb {version('duckdb')}, "
            f"pyarrow {version('pyarrow')}, numpy {version('numpy')}, SQLAlchemy {version('sqlalchemy')}, "
            f"duckdb_engine {version('duckdb_engine')}, SQLite {sqlite3.sqlite_version}, "
            f"foikit {version('foikit')}"]


def busy_processes() -> list[str]:
    """Other processes using a CPU (ps' lifetime %CPU >= 20), for the record: the machine was shared."""
    try:
        text = subprocess.run(["ps", "-eo", "pid=,pcpu=,rss=,args="], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    out = []
    for line in text.splitlines():
        pid, pcpu, rss, *args = line.split(None, 3)
        if int(pid) == os.getpid() or float(pcpu) < 20 or not args:
            continue
        words = ["…" if "://" in w or "password" in w.lower() else (Path(w).name if w.startswith("/") else w)
                 for w in args[0].split()]
        out.append(f"{' '.join(words)[:100]} ({float(pcpu):.0f}% CPU, {int(rss) / 1024:.0f} MB)")
    return out


def write_results(path: Path, body: str) -> None:
    notes = ""
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].lstrip("\n")
    path.write_text(f"{body}\n\n{NOTES_MARKER}\n\n{notes}".rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=["parquet", "csv"], default=["parquet", "csv"])
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite cases")
    parser.add_argument("--spark", action="store_true", help="also the Spark cases (pyspark and Java needed)")
    parser.add_argument("--seed", type=int, default=20231)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="where the data files and the SQLite database are kept between runs")
    parser.add_argument("--slow", type=float, default=60.0, help="a case whose first run takes longer runs once")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not rewrite --out")
    parser.add_argument("--json", type=Path, help="also write the raw numbers")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.source, args.table)), flush=True)
        return 0

    started = time.perf_counter()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017
    busy_before = busy_processes()
    load_before = os.getloadavg()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    postgres = bool(os.environ.get(PG_ENV))
    sizes = []
    for rows in args.rows:
        log(f"{rows:,} rows: data in {args.data_dir}")
        files = {fmt: data_file(args.data_dir, rows, args.seed, fmt) for fmt in args.formats}
        csv_path = files.get("csv") or data_file(args.data_dir, rows, args.seed, "csv")
        cases = []
        for fmt, path in files.items():
            cases += [Case("plain-pandas", fmt, str(path)), Case("plain-duckdb", fmt, str(path))]
            if args.spark:
                cases.append(Case("plain-spark", fmt, str(path)))
        if not args.no_sqlite:
            db = str(sqlite_db(args.data_dir, rows, args.seed, csv_path))
            cases.append(Case("plain-sqlite", "sqlite", db, SQLITE_TABLE))
        if postgres:
            pg_table = postgres_table(rows, args.seed, csv_path)
            cases.append(Case("plain-postgres", "postgres", "", pg_table))
        for fmt, path in files.items():
            cases.append(Case("duckdb", fmt, str(path)))
            if args.spark:
                cases.append(Case("spark", fmt, str(path)))
        if not args.no_sqlite:
            cases.append(Case("sqlite", "sqlite", db, SQLITE_TABLE))
        if postgres:
            cases.append(Case("postgres", "postgres", "", pg_table))
        for case in cases:
            log(f"{rows:,} rows: {case.label} ({case.fmt})")
            run_case(case, args.repeat, args.slow, args.timeout)
        input_bytes = {c.fmt: c.runs[0]["input_bytes"] for c in cases if c.kind == "plain-pandas" and c.runs}
        sizes.append(Size(rows, cases, input_bytes))
    elapsed = time.perf_counter() - started
    loads = [load for size in sizes for case in size.cases for load in case.loads]
    busy_after = busy_processes()

    command = "python bench/bench_cube.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown_table(sizes)
    print(table)
    if args.json:
        args.json.write_text(json.dumps([{"rows": s.rows, "input_bytes": s.input_bytes, "cases": [
            {"kind": c.kind, "fmt": c.fmt, "error": c.error, "runs": c.runs} for c in s.cases]} for s in sizes],
            indent=1))
    if args.no_write:
        return 0
    bases = [r["base_kb"] for s in sizes for c in s.cases for r in c.runs]
    spark_sessions = [r["session_s"] for s in sizes for c in s.cases for r in c.runs if "session_s" in r]
    body = [
        "# Benchmark: the count cube (pandas, DuckDB and SQL paths)",
        "",
        f"Written by `bench/bench_cube.py` on {stamp}; the whole run took {elapsed / 60:.1f} minutes.",
        "",
        "```bash",
        command.strip(),
        "```",
        "",
        "## Machine",
        "",
        *(f"- {fact}" for fact in machine()),
        f"- Load average (1 min) before the run {load_before[0]:.2f}; before each measured run "
        f"{min(x[0] for x in loads):.2f} to {max(x[0] for x in loads):.2f}." if loads else "- (no runs)",
        "- Other busy processes at the start: " + ("; ".join(busy_before) or "none") + ".",
        "- At the end: " + ("; ".join(busy_after) or "none") + ".",
        f"- PostgreSQL: {'measured (' + PG_ENV + ' set)' if postgres else PG_ENV + ' not set, not measured'}.",
        "",
        "## What is measured",
        "",
        f"All parts of `{PARAMS.relative_to(ROOT)}` ({', '.join(p['name'] for p in parts_summary())}) on "
        f"`foikit synth --rows N --seed {args.seed}` data. Each run is a fresh process; *time* is the median "
        f"of up to {args.repeat} runs (a case over {args.slow:.0f} s runs once). *peak RSS* is the largest "
        "high-water RSS of its runs: `VmHWM` of `/proc/self/status`, reset through `/proc/self/clear_refs` after "
        "the imports. `getrusage(RUSAGE_SELF).ru_maxrss` gives the same number, but only above a floor: Linux "
        "starts a child's `ru_maxrss` at the RSS of the process it was forked from, which no reset clears "
        f"(this script's RSS was at most {fmt_mb(max((c.parent_kb for s in sizes for c in s.cases), default=0))}"
        " MB when it started a run; both numbers are in `--json`). "
        "*base* is the RSS after the imports (the same libraries in every case: median "
        f"{fmt_mb(statistics.median(bases)) if bases else '-'} MB); *input in memory* "
        "`DataFrame.memory_usage(deep=True).sum()` of the file read by plain pandas (string columns; foikit's "
        "own frame is smaller: its columns of few values are categoricals).",
        "",
        "- **plain pandas**: the *count only* row is the filter+groupby alone, its memory over the RSS after "
        "the load.",
        "- **foikit DuckDB path** (foikit's one engine for files): `open_source(DataSource(path=...))` then "
        "`count_cube`; "
        "Parquet stays a view; a CSV is parsed once (into Arrow, scanned by DuckDB in place); the time "
        "includes reading `data.sha256` (the file's SHA-256, computed on another thread while the parts are "
        "counted).",
        "- **foikit SQL path**: the rows in a SQLite table (TEXT columns, no index), "
        "`open_source(DataSource(url='sqlite:///...', table='cases'))` then `count_cube`. Its time is "
        "compared with the plain baselines over Parquet; the plain SQLite GROUP BY on the same table is shown "
        "as a reference.",
        *([f"- **foikit Spark path** (`--spark`): `open_source(DataSource(path=..., engine='spark'))` then "
           "`count_cube`, in a local Spark session (`local[2]`: both cores) started before the clock (start-up "
           f"median {fmt_s(statistics.median(spark_sessions))} s, not in the times). The JVM is a process of "
           "its own: its memory is not in the RSS columns. **plain Spark SQL GROUP BY**: the plain DuckDB "
           "query with backtick identifiers, over `spark.read.parquet` in the same kind of session."]
          if spark_sessions else []),
        "- **plain pandas groupby**: `read_parquet` / `read_csv(dtype=str, keep_default_na=False)`, filter on "
        "the category and the year (first four characters of the date), `groupby(<period and dims>, "
        "observed=True).size()` per part.",
        "- **plain DuckDB GROUP BY**: one query per part over `read_parquet` / `read_csv(all_varchar = true)` "
        "with the same filter, in a new in-memory DuckDB.",
        f"- *x faster plain*: time / the faster plain baseline on the same file (Parquet for the databases); "
        f"target ≤ {TIME_TARGET}x. *(peak - base) / input*: target < {MEMORY_TARGET}x. Misses in **bold**. "
        "*SQL queries*: statements the path ran (typical run).",
        "",
        "## Results",
        "",
        table,
        "",
        *agreement(sizes),
        "",
        "## Reading against the targets",
        "",
        *reading(sizes),
        "",
        f"## Where foikit's time goes ({sizes[-1].rows:,} rows, typical run)" if sizes else "",
        "",
        "Seconds inside foikit's functions (a function called by another is counted in both; calls in "
        "brackets): `sql.population` is a part's one statement over its population (cells by raw value, and "
        "the days), `sql.duplicate_keys` the duplicate-key check (files: over the rows counted; databases: "
        "over the whole source, at open), `sql.missing_anywhere` whether a breakdown is ever missing (Parquet "
        "statistics, Arrow buffers, else one scan), `sql.sql_cube` the coded query of distinct units, "
        "`sources._key_hashes` the screen that names a file's duplicate rows; `sql.check` runs only when a check "
        "fails.",
        "",
        breakdown_table(sizes[-1]) if sizes else "",
    ]
    write_results(args.out, "\n".join(body))
    log(f"wrote {args.out} ({elapsed / 60:.1f} min)")
    return 0


def parts_summary() -> list[dict]:
    import yaml

    return yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["parts"]


if __name__ == "__main__":
    sys.exit(main())
