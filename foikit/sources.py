"""Reading case data: the embedded synthetic dataset or a CSV/Parquet file, checked against its dictionary."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from foikit.dictionary import Dictionary, embedded_dictionary, inferred_dictionary, load_dictionary
from foikit.exceptions import DataError
from foikit.params import DataSource

READERS = {".csv", ".parquet", ".xlsx"}
COVERAGE_KEY = b"foikit.coverage"  # in a snapshot: the years the original source covered, by date column


@dataclass(frozen=True)
class CaseData:
    """Case-level rows with their provenance: held in pandas (``frame``, every value a string, '' where not
    recorded), or left where they live (``relation``: a database, or a file read by DuckDB), where only
    counts are computed."""

    frame: pd.DataFrame
    path: Path
    sha256: str
    dictionary: Dictionary
    embedded: bool
    coverage: dict[str, list[str]] | None = None  # years covered by date column, when a snapshot says so
    relation: Any = None  # foikit.sql.SqlRelation when the rows stay in the database
    n_rows: int | None = None

    @property
    def label(self) -> str:
        if self.relation is not None and not self.path.is_file():
            return f"database {self.relation.label}"
        kind = "embedded synthetic dataset" if self.embedded else "case data"
        return f"{kind} {self.path.name}" + (" (counted in DuckDB)" if self.relation is not None else "")

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


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_cases(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with every value as a string; empty or null values become ''."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(f"{path}: unsupported data file type {path.suffix!r} (use .csv or .parquet)")
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start}): re-save the file as UTF-8") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"{path}: cannot parse CSV: {str(exc).splitlines()[0]}") from None
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=object, engine="openpyxl").map(_cell_text)
    else:
        frame = pd.read_parquet(path)
        for column in frame.columns:  # as text, '' for null: as a CSV would read; column by column, no objects
            values = frame[column]
            frame[column] = (values if pd.api.types.is_string_dtype(values) else values.astype(str).where(
                values.notna(), None)).fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "date") and hasattr(value, "year"):  # datetime / Timestamp
        return value.date().isoformat() if callable(value.date) else str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_keys(frame: pd.DataFrame, dictionary: Dictionary, path: Path) -> None:
    """Refuse duplicate keys: the same row twice would be counted twice."""
    key = [k for k in dictionary.key if k in frame.columns]
    if not key or len(key) != len(dictionary.key):
        return
    # hash first (fast); an equal hash is then confirmed on the values themselves
    hashed = pd.util.hash_pandas_object(frame[key], index=False)
    if not hashed.duplicated().any():
        return
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        rows = frame.loc[dup, key].assign(row=np.flatnonzero(dup) + 1)
        first = rows.groupby(key, sort=False)["row"].apply(list).head(3)
        shown = "; ".join(f"({', '.join(k if isinstance(k, tuple) else (k,))}) at data rows {r}"
                          for k, r in first.items())
        raise DataError(f"{path}: duplicate keys ({', '.join(key)}) in {int(dup.sum())} rows: {shown}")


def _open_database(source: DataSource) -> CaseData:
    from foikit import sql

    url = source.url
    if source.url_env is not None:
        url = os.environ.get(source.url_env)
        if not url:
            raise DataError(f"url_env: environment variable {source.url_env} is not set")
    relation = sql.open_relation(url, table=source.table, query=source.query)
    dictionary = (load_dictionary(source.dictionary) if source.dictionary
                  else inferred_dictionary(relation.columns(), relation.label))
    if dictionary.key and all(k in relation.names for k in dictionary.key):
        found = sql.duplicate_keys(relation, list(dictionary.key), "data")
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
    if source.path is None:
        path = embedded_data_path(template)
        dictionary = (
            load_dictionary(source.dictionary) if source.dictionary else embedded_dictionary(template)
        )
        embedded = True
    else:
        path = Path(source.path)
        dictionary = None if source.dictionary is None else load_dictionary(source.dictionary)
        embedded = False
    if source.engine == "duckdb":
        from foikit import sql

        relation = sql.file_relation(path)
        if dictionary is None:
            dictionary = inferred_dictionary(relation.columns(), str(path))
        return CaseData(frame=pd.DataFrame(columns=relation.columns()), path=path, sha256=sha256_file(path),
                        dictionary=dictionary, embedded=embedded, relation=relation,
                        n_rows=sql.count_rows(relation))
    frame = read_cases(path)
    if dictionary is None:
        dictionary = inferred_dictionary(list(frame.columns), str(path))
    check_categories(frame, dictionary, path)
    check_keys(frame, dictionary, path)
    return CaseData(frame=frame, path=path, sha256=sha256_file(path), dictionary=dictionary, embedded=embedded,
                    coverage=read_coverage(path))


def read_coverage(path: Path) -> dict[str, list[str]] | None:
    """The years a snapshot's original source covered (None for any other file)."""
    if path.suffix.lower() != ".parquet":
        return None
    raw = (pq.read_schema(path).metadata or {}).get(COVERAGE_KEY)
    return json.loads(raw) if raw else None


def check_categories(frame: pd.DataFrame, dictionary: Dictionary, path: Path) -> None:
    """Refuse values that the dictionary does not know, so that no row silently falls out of a table."""
    for column, spec in dictionary.columns.items():
        if spec.categories is None or spec.other is not None or column not in frame.columns:
            continue
        values = frame[column]
        unknown = values[(values != "") & ~values.isin(list(spec.code_map()))]
        if len(unknown):
            counts = unknown.value_counts().sort_index()
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.items())
            first = ", ".join(str(i + 1) for i in unknown.index[:5])
            raise DataError(
                f"{path}: column {column!r}: values not in dictionary {dictionary.source}: {listed}"
                f" (first at data rows {first}, counting from 1 after the header)"
            )
