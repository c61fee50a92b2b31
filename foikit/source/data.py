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
    duplicate_rows_message,
    parquet_schema,
    read_for_counting,
    sha256_file,
    unknown_categories_message,
)

COVERAGE_KEY = b"foikit.coverage"  # in a snapshot: the years the original source covered, by date column
# in a snapshot: the original source's last day by date column (null: not scanned, a database), which a
# snapshot holding only the response's rows cannot tell: a re-run states the same coverage
LAST_DAY_KEY = b"foikit.last_day"


@dataclass(frozen=True)
class CaseData:
    """Case-level rows with their provenance: held in pandas (``frame``, every value a string, '' where not
    recorded; columns with few distinct values are categoricals of those strings), or left where they live
    (``relation``: a database, or a file read by DuckDB), where only counts are computed."""

    frame: pd.DataFrame
    path: Path
    sha256: str
    dictionary: Dictionary
    embedded: bool
    coverage: dict[str, list[str]] | None = None  # years covered by date column, when a snapshot says so
    last_days: dict[str, str | None] | None = None  # the source's last day by date column, when a snapshot says so
    relation: Any = None  # foikit.source.sql.SqlRelation when the rows stay in the database
    n_rows: int | None = None
    # what foikit.cube.engine derived from these rows (specs, column profiles, padded values), so that the
    # parts, the snapshot and its coverage do not each scan the source again; not an __init__ argument, so a
    # copy with other rows (dataclasses.replace) starts a cache of its own
    cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def label(self) -> str:
        if self.relation is not None and not self.path.is_file():
            return f"database {self.relation.label}"
        kind = "embedded synthetic dataset" if self.embedded else "case data"
        return f"{kind} {self.path.name}" + (f" (counted in {self.relation.kind})" if self.relation is not None else "")

    @property
    def where(self) -> str:
        """The source as named in messages (never with a password)."""
        return self.relation.label if self.relation is not None else str(self.path)

    @property
    def rows(self) -> int:
        return self.n_rows if self.n_rows is not None else len(self.frame)


def embedded_data_path(name: str = "conduct_allegations") -> Path:
    """Path of an embedded synthetic dataset inside the installed package."""
    return Path(str(resources.files("foikit") / "data" / f"{name}.csv"))




def value_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code and the distinct values (as an object array) the codes index: a categorical's own
    codes, else a factorisation. Every value is looked at once, however many rows hold it."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), np.asarray(values.cat.categories, dtype=object)
    codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=False)
    return codes, np.asarray(uniques, dtype=object)


def present_values(values: pd.Series) -> list[str]:
    """The distinct values that occur (a categorical may list categories no row holds any more)."""
    codes, uniques = value_codes(values)
    return [str(v) for v in uniques[np.bincount(codes, minlength=len(uniques)) > 0]]


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


def check_duplicate_rows(frame: pd.DataFrame, dictionary: Dictionary, path: Path) -> None:
    """Refuse rows equal in every column to an earlier row, unless the dictionary allows them. With a key
    the key check refuses them (equal rows, equal keys)."""
    if dictionary.key or dictionary.duplicate_rows == "allow" or len(frame) < 2 or not len(frame.columns):
        return
    columns = list(frame.columns)
    hashed = _key_hashes(frame, columns)
    ordered = np.sort(hashed)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return
    candidates = np.flatnonzero(np.isin(hashed, repeated))  # confirmed on the values themselves
    again = frame.iloc[candidates][columns].astype(str).duplicated(keep="first").to_numpy()
    if again.any():
        first = [int(i) + 1 for i in candidates[again][:SHOW_ROWS]]
        raise DataError(duplicate_rows_message(str(path), int(again.sum()), len(columns), first))




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
    return CaseData(frame=pd.DataFrame(columns=relation.columns()), path=Path(source.table or "query"),
                    sha256=hashlib.sha256(identity).hexdigest(), dictionary=dictionary, embedded=False,
                    relation=relation, n_rows=sql.count_rows(relation))


def open_source(source: DataSource, template: str = "conduct_allegations") -> CaseData:
    """Load the case data a request names (or the template's embedded dataset) and fingerprint it. Database
    sources, and files with ``engine: duckdb``, are opened where they are: only counts come back."""
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
        if source.engine in {"duckdb", "spark"}:
            # a CSV is parsed here (DuckDB), or read by Spark where the rows are counted
            relation = sql.file_relation(path) if source.engine == "duckdb" else spark.spark_relation(path)
            if dictionary is None:
                dictionary = inferred_dictionary(relation.columns(), str(path))
            try:
                # the same checks over all rows as the pandas engine makes, in its order: the same answer
                # or refusal
                key = list(dictionary.key)
                found = sql.unknown_categories(relation, dictionary)
                if not found and key and all(k in relation.names for k in key):
                    found = sql.duplicate_keys(relation, key, "data")
                    if found:  # a file's rows have an order: named as the pandas engine names them
                        check_keys(pd.DataFrame(sql.text_columns(relation, key, "checking keys")), dictionary,
                                   path)
                if not found and not key and dictionary.duplicate_rows == "refuse" and read_coverage(path) is None:
                    found = sql.duplicate_rows(relation)
                if found:
                    raise DataError(found[0])
                n_rows = sql.count_rows(relation)
                sha256 = digest.result() if digest is not None else sha256_file(path)
            except BaseException:
                relation.close()
                raise
            return CaseData(frame=pd.DataFrame(columns=relation.columns()), path=path, sha256=sha256,
                            dictionary=dictionary, embedded=embedded, relation=relation, n_rows=n_rows,
                            last_days=read_last_days(path))
        frame = read_for_counting(path)
        if dictionary is None:
            dictionary = inferred_dictionary(list(frame.columns), str(path))
        check_categories(frame, dictionary, path)
        check_keys(frame, dictionary, path)
        coverage = read_coverage(path)
        if coverage is None:  # a snapshot holds only the columns used: its rows were checked whole
            check_duplicate_rows(frame, dictionary, path)
        sha256 = digest.result() if digest is not None else sha256_file(path)
    return CaseData(frame=frame, path=path, sha256=sha256, dictionary=dictionary, embedded=embedded,
                    coverage=coverage, last_days=read_last_days(path))


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
    frame = data.frame
    if data.relation is not None and data.relation.duck is not None and column in data.relation.names:
        day = sql.last_day(data.relation, column)  # a file: read whole, as the pandas engine reads it
        return None if day is None else date.fromisoformat(day)
    if data.relation is not None or column not in frame.columns:
        return None
    last = pd.to_datetime(frame[column], errors="coerce", format="ISO8601").max()
    return None if pd.isna(last) else last.date()


def check_categories(frame: pd.DataFrame, dictionary: Dictionary, path: Path) -> None:
    """Refuse values that the dictionary does not know, so that no row silently falls out of a table."""
    for column, spec in dictionary.columns.items():
        if spec.categories is None or spec.other is not None or column not in frame.columns:
            continue
        codes, values = value_codes(frame[column])  # each distinct value checked once
        known = set(spec.code_map())
        unknown_value = np.array([v != "" and v not in known for v in values], dtype=bool)
        if not unknown_value.any():
            continue
        counts = np.bincount(codes, minlength=len(values))
        found = sorted((str(v), int(n)) for v, n, bad in zip(values, counts, unknown_value, strict=True)
                       if bad and n)
        if not found:
            continue
        rows = np.flatnonzero(unknown_value[codes])[:5]
        raise DataError(unknown_categories_message(str(path), column, dictionary.source, found,
                                                   [int(i) + 1 for i in frame.index[rows]]))


