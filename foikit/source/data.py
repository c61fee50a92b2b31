"""Reading case data: the embedded synthetic dataset or a CSV/Parquet file, checked against its dictionary."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from foikit.exceptions import DataError, capped_text
from foikit.request.dictionary import Dictionary, embedded_dictionary, inferred_dictionary, load_dictionary
from foikit.request.params import DataSource
from foikit.source import credentials, spark, sql
from foikit.source.files import (
    SHOW_ROWS,
    parquet_schema,
    sha256_file,
)

COVERAGE_KEY = b"foikit.coverage"  # in a snapshot: the years the original source covered, by date column
# in a snapshot: the original source's last day by date column (null: not scanned, a database), which a
# snapshot holding only the response's rows cannot tell: a re-run states the same coverage
LAST_DAY_KEY = b"foikit.last_day"


@dataclass(frozen=True)
class CaseData:
    """Case-level rows with their provenance, left where they live (``relation``: a file or a frame in
    DuckDB, a database, or Spark), where only counts are computed: no case row is held in Python."""

    relation: Any  # foikit.source.sql.SqlRelation
    path: Path
    sha256: str
    dictionary: Dictionary
    embedded: bool
    coverage: dict[str, list[str]] | None = None  # years covered by date column, when a snapshot says so
    last_days: dict[str, str | None] | None = None  # the source's last day by date column, when a snapshot says so
    n_rows: int = 0
    # what foikit.cube.engine derived from these rows (specs, column profiles, padded values), so that the
    # parts, the snapshot and its coverage do not each scan the source again; not an __init__ argument, so a
    # copy with other rows (dataclasses.replace) starts a cache of its own
    cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def label(self) -> str:
        if not self.path.is_file():
            return f"database {self.relation.label}"
        kind = "embedded synthetic dataset" if self.embedded else "case data"
        return f"{kind} {self.path.name} (counted in {self.relation.kind})"

    @property
    def where(self) -> str:
        """The source as named in messages (never with a password)."""
        return self.relation.label

    @property
    def rows(self) -> int:
        return self.n_rows


def embedded_data_path(name: str = "conduct_allegations") -> Path:
    """Path of an embedded synthetic dataset inside the installed package."""
    return Path(str(resources.files("foikit") / "data" / f"{name}.csv"))




def _key_hashes(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """A 64-bit hash of every row's key: in DuckDB for large frames (vectorised over the Arrow buffers, no
    Python strings), else with pandas."""
    if len(frame) < 200_000:
        return pd.util.hash_pandas_object(frame[key], index=False).to_numpy()
    import duckdb

    keys = pa.Table.from_pandas(frame[key], preserve_index=False)
    names = ", ".join(f'"{i}"' for i in range(len(key)))
    keys = keys.rename_columns([str(i) for i in range(len(key))])
    with duckdb.connect() as con:
        con.register("keys", keys)
        return con.execute(f"SELECT hash({names}) AS h FROM keys").fetchnumpy()["h"]


def check_keys(frame: pd.DataFrame, dictionary: Dictionary, path: Path) -> None:
    """Refuse duplicate keys: the same row twice would be counted twice."""
    key = [k for k in dictionary.key if k in frame.columns]
    if not key or len(key) != len(dictionary.key):
        return
    # hash first (fast); rows whose hash repeats are then confirmed on the values themselves
    hashed = _key_hashes(frame, key)
    ordered = np.sort(hashed)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return
    candidates = np.flatnonzero(np.isin(hashed, repeated))
    sub = frame.iloc[candidates][key].astype(str)  # plain strings: groups in order of first appearance
    dup = sub.duplicated(key, keep=False).to_numpy()
    if dup.any():
        rows = sub.loc[dup, key].assign(row=candidates[dup] + 1)
        first = rows.groupby(key, sort=False)["row"].apply(list).head(3)
        listed = "; ".join(f"({', '.join(capped_text(v) for v in (k if isinstance(k, tuple) else (k,)))}) at data "
                           f"rows {r[:SHOW_ROWS]}" for k, r in first.items())
        raise DataError(f"{path}: duplicate keys ({', '.join(key)}) in {int(dup.sum())} rows: {listed}")


def _query_name(query: str | None) -> str:
    """A dataset name for rows a SELECT gives: the query's fingerprint (a query names no dataset of its own)."""
    return "query-" + hashlib.sha256((query or "").strip().encode()).hexdigest()[:12]


def _open_database(source: DataSource) -> CaseData:
    url = source.url
    if url is not None and credentials.secrets_of(url):
        # a params file is copied into the report (and committed): a password in it would be published
        raise DataError(f"data.url: {credentials.safe_url(url)} holds a password or a secret query value; put "
                        "the URL in an environment variable and name it with data.url_env instead")
    if source.url_env is not None:
        url = os.environ.get(source.url_env)
        if not url:
            raise DataError(f"url_env: environment variable {source.url_env} is not set")
        credentials.remember(url, whole=True)
    assert url is not None  # the caller opens a database only when data.url or data.url_env is given
    relation = sql.open_relation(url, table=source.table, query=source.query)
    return _open_relation(relation, source, source.table or _query_name(source.query))


def _open_relation(relation: sql.SqlRelation, source: DataSource, name: str) -> CaseData:
    """Case data left in a database (or a Spark table), checked as a file is: categories, keys, duplicates."""
    # the dataset's name (the ledger's key) comes from the dictionary, or from the table: never from the URL
    dictionary = (load_dictionary(source.dictionary) if source.dictionary else inferred_dictionary(
        relation.columns(), "database").model_copy(update={"name": name}))
    found = sql.unknown_categories(relation, dictionary)
    if found:
        raise DataError(found[0])
    if dictionary.key and all(k in relation.names for k in dictionary.key):
        found = sql.duplicate_keys(relation, list(dictionary.key), "data")
        if found:
            raise DataError(found[0])
    if not dictionary.key and dictionary.duplicate_rows == "refuse":
        found = sql.duplicate_rows(relation)
        if found:
            raise DataError(found[0])
    identity = f"{relation.label}\n{source.table or source.query}".encode()
    return CaseData(relation=relation, path=Path(source.table or "query"),
                    sha256=hashlib.sha256(identity).hexdigest(), dictionary=dictionary, embedded=False,
                    n_rows=sql.count_rows(relation))


def open_source(source: DataSource, template: str = "conduct_allegations") -> CaseData:
    """Open the case data a request names (or the template's embedded dataset) where it is, check it against
    its dictionary, and fingerprint it: only counts ever come back."""
    if source.url is not None or source.url_env is not None:
        return _open_database(source)
    if source.table is not None:  # engine: spark (the params allow a table without a URL only there)
        return _open_relation(spark.spark_relation(table=source.table), source, source.table)
    if source.path is None:
        path = embedded_data_path(source.embedded or template)
        dictionary: Dictionary | None = (
            load_dictionary(source.dictionary) if source.dictionary else embedded_dictionary(template)
        )
        embedded = True
    else:
        path = Path(source.path)
        dictionary = None if source.dictionary is None else load_dictionary(source.dictionary)
        embedded = False
    # the file's SHA-256 is computed on the other core while it is read and checked (both release the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_file, path) if path.is_file() else None
        # a CSV or workbook is parsed here (into Arrow, scanned by DuckDB in place), or read by Spark where
        # the rows are counted
        relation = spark.spark_relation(path) if source.engine == "spark" else sql.file_relation(path)
        try:
            if dictionary is None:
                dictionary = inferred_dictionary(relation.columns(), str(path))
            key = list(dictionary.key)
            found = sql.unknown_categories(relation, dictionary)
            if not found and key and all(k in relation.names for k in key):
                found = sql.duplicate_keys(relation, key, "data")
                if found:  # a file's rows have an order: the message names them
                    check_keys(pd.DataFrame(sql.text_columns(relation, key, "checking keys")), dictionary, path)
            coverage = read_coverage(path)
            # a snapshot holds only the columns used: its rows were checked whole
            if not found and not key and dictionary.duplicate_rows == "refuse" and coverage is None:
                found = sql.duplicate_rows(relation)
            if found:
                raise DataError(found[0])
            n_rows = sql.count_rows(relation)
            sha256 = digest.result() if digest is not None else sha256_file(path)
        except BaseException:
            relation.close()
            raise
    return CaseData(relation=relation, path=path, sha256=sha256, dictionary=dictionary, embedded=embedded,
                    n_rows=n_rows, coverage=coverage, last_days=read_last_days(path))


def read_coverage(path: Path) -> dict[str, list[str]] | None:
    """The years a snapshot's original source covered (None for any other file)."""
    if path.suffix.lower() != ".parquet":
        return None
    raw = (parquet_schema(path).metadata or {}).get(COVERAGE_KEY)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise DataError(f"{path}: the snapshot's coverage metadata is not JSON") from None


def read_last_days(path: Path) -> dict[str, str | None] | None:
    """The last day by date column of a snapshot's original source (None for any other file, or an older
    snapshot that does not say)."""
    if path.suffix.lower() != ".parquet":
        return None
    raw = (parquet_schema(path).metadata or {}).get(LAST_DAY_KEY)
    try:
        days = json.loads(raw) if raw else None
        if days is not None and not (isinstance(days, dict) and all(
                v is None or date.fromisoformat(v) for v in days.values())):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{path}: the snapshot's last-day metadata is not a JSON object of ISO dates") from None
    return days


def last_day(data: CaseData, column: str) -> date | None:
    """The source's last day in ``column`` (None when not known: a source held in a database is not scanned
    for it). A snapshot says what its original source's was."""
    if data.last_days is not None and column in data.last_days:
        day = data.last_days[column]
        return None if day is None else date.fromisoformat(day)
    if data.relation.duck is not None and column in data.relation.names:
        day = sql.last_day(data.relation, column)  # a file: read whole
        return None if day is None else date.fromisoformat(day)
    return None
