"""Reading case data: the embedded synthetic dataset or a CSV/Parquet file, checked against its dictionary."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from foikit import credentials
from foikit.dictionary import Dictionary, embedded_dictionary, inferred_dictionary, load_dictionary
from foikit.exceptions import DataError
from foikit.params import DataSource

READERS = {".csv", ".parquet", ".xlsx"}
COVERAGE_KEY = b"foikit.coverage"  # in a snapshot: the years the original source covered, by date column


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
    relation: Any = None  # foikit.sql.SqlRelation when the rows stay in the database
    n_rows: int | None = None
    # what foikit.cube derived once from this data (specs, column profiles, coded cubes), so that the checks,
    # the answer and the snapshot of one run do not each scan the source again
    cache: dict = field(default_factory=dict, compare=False, repr=False)

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


class _Hashing(CaseData):
    """Case data whose file fingerprint is still being computed on another thread when it is returned:
    ``sha256`` waits for it when first read, so that hashing overlaps the count (both release the GIL)."""

    @property  # type: ignore[override]
    def sha256(self) -> str:
        value = self.__dict__["_sha256"]
        if isinstance(value, Future):
            value = value.result()
            self.__dict__["_sha256"] = value
        return value

    @sha256.setter
    def sha256(self, value: str | Future) -> None:  # the dataclass' __init__ sets it through here
        self.__dict__["_sha256"] = value


_HASHER: list[ThreadPoolExecutor] = []  # one worker for the process: fingerprints of sources being counted


def _hash_later(path: Path) -> Future:
    if not _HASHER:
        _HASHER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="foikit-sha256"))
    return _HASHER[0].submit(sha256_file, path)


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


SAMPLE = 65_536  # rows looked at to decide whether a column is worth holding as a categorical
TEXT = pa.dictionary(pa.int32(), pa.string())


def read_for_counting(path: str | Path) -> pd.DataFrame:
    """The values :func:`read_cases` gives, with every column of few distinct values (categories, dates) as
    a pandas categorical: such a column is read from the file's own dictionary encoding (Parquet) or
    dictionary-encoded while parsed (CSV), so its strings are never materialised row by row, and counting
    works on small integer codes. Columns of many distinct values (keys) stay Arrow-backed strings. Anything
    pyarrow refuses or might read differently goes through :func:`read_cases`: the same frame or error."""
    path = Path(path)
    columns = _arrow_text_columns(path)
    if columns is None:
        return read_cases(path)
    frame = pd.DataFrame({name: _as_pandas(column) for name, column in columns.items()})
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _as_pandas(column: pa.ChunkedArray) -> pd.Series | pd.Categorical:
    if not pa.types.is_dictionary(column.type):
        if column.null_count:
            column = pc.fill_null(column, "")
        return column.to_pandas()
    if column.null_count:  # rare: missing as '' through the text path
        return _as_pandas(pc.fill_null(column.cast(pa.string()), ""))
    column = column.unify_dictionaries()
    chunks = column.chunks
    categories = pd.Index(chunks[0].dictionary.to_pandas()) if chunks else pd.Index([], dtype=str)
    codes = (np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks]) if chunks
             else np.array([], dtype=np.int32))
    if not categories.is_unique:  # never from Arrow's own encoding; make sure
        return _as_pandas(column.cast(pa.string()))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)


def _few_values(sample: pa.Table) -> set[str]:
    """Columns with at most one distinct value in four rows of the sample: worth a dictionary."""
    return {name for name, column in zip(sample.column_names, sample.columns, strict=True)
            if len(pc.unique(column)) * 4 <= max(len(column), 1)}


def _arrow_text_columns(path: Path) -> dict[str, pa.ChunkedArray] | None:
    """Each column of an all-text Parquet file or of a CSV (every value as text, '' for empty), or None
    where read_cases must decide."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet" and path.is_file():
            schema = pq.read_schema(path)
            if not all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in schema.types) \
                    or len(set(schema.names)) != len(schema.names):
                return None
            probe = pq.ParquetFile(path)
            first = next(probe.iter_batches(batch_size=SAMPLE), None)  # not a whole row group
            few = _few_values(pa.Table.from_batches([first]) if first is not None
                              else probe.schema_arrow.empty_table())
            parquet = pq.ParquetFile(path, read_dictionary=sorted(few))
            # column by column: the peak holds one column's strings, not the whole file's
            return {name: parquet.read(columns=[name]).column(0) for name in schema.names}
        if suffix == ".csv" and path.is_file():
            table = read_csv_arrow(path)
            return None if table is None else dict(zip(table.column_names, table.columns, strict=True))
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error, StopIteration):
        return None  # read_cases raises its own error for the same file
    return None


def read_csv_arrow(path: Path) -> pa.Table | None:
    """A comma-separated file with a header as an Arrow table, every value as text ('' for empty), columns
    of few distinct values dictionary-encoded while parsed (multi-threaded); None when pyarrow refuses it
    or it is not plain enough (a BOM, repeated names) to be read exactly as pandas reads it."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if not header or header[0].startswith("\ufeff") or len(set(header)) != len(header):
            return None
        text = {n: pa.string() for n in header}
        with pa_csv.open_csv(path, convert_options=pa_csv.ConvertOptions(
                column_types=text, strings_can_be_null=False, quoted_strings_can_be_null=False)) as reader:
            first = reader.read_next_batch()
        few = _few_values(pa.Table.from_batches([first]).slice(0, SAMPLE))
        table = pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(newlines_in_values=False),
                                convert_options=pa_csv.ConvertOptions(
                                    column_types={n: TEXT if n in few else pa.string() for n in header},
                                    strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return table if table.column_names == header else None


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "date") and hasattr(value, "year"):  # datetime / Timestamp
        return value.date().isoformat() if callable(value.date) else str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
        shown = "; ".join(f"({', '.join(k if isinstance(k, tuple) else (k,))}) at data rows {r}"
                          for k, r in first.items())
        raise DataError(f"{path}: duplicate keys ({', '.join(key)}) in {int(dup.sum())} rows: {shown}")


def _query_name(query: str | None) -> str:
    """A dataset name for rows a SELECT gives: the query's fingerprint (a query names no dataset of its own)."""
    return "query-" + hashlib.sha256((query or "").strip().encode()).hexdigest()[:12]


def _open_database(source: DataSource) -> CaseData:
    from foikit import sql

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
    relation = sql.open_relation(url, table=source.table, query=source.query)
    # the dataset's name (the ledger's key) comes from the dictionary, or from the table: never from the URL
    dictionary = (load_dictionary(source.dictionary) if source.dictionary else inferred_dictionary(
        relation.columns(), "database").model_copy(update={"name": source.table or _query_name(source.query)}))
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
        path = embedded_data_path(source.embedded or template)
        dictionary = (
            load_dictionary(source.dictionary) if source.dictionary else embedded_dictionary(template)
        )
        embedded = True
    else:
        path = Path(source.path)
        dictionary = None if source.dictionary is None else load_dictionary(source.dictionary)
        embedded = False
    # the file's SHA-256 is computed on the other core while it is read (both release the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        if source.engine == "duckdb":
            from foikit import sql

            # the SHA-256 runs on while the parts are counted: it is waited for where it is first read
            digest = _hash_later(path) if path.is_file() else None
            relation = sql.file_relation(path)  # a CSV is parsed here
            if dictionary is None:
                dictionary = inferred_dictionary(relation.columns(), str(path))
            try:
                n_rows = sql.count_rows(relation)
                sha256: str | Future = digest if digest is not None else sha256_file(path)
            except BaseException:
                relation.close()
                raise
            return _Hashing(frame=pd.DataFrame(columns=relation.columns()), path=path, sha256=sha256,
                            dictionary=dictionary, embedded=embedded, relation=relation, n_rows=n_rows)
        digest = pool.submit(sha256_file, path) if path.is_file() else None
        frame = read_for_counting(path)
        if dictionary is None:
            dictionary = inferred_dictionary(list(frame.columns), str(path))
        check_categories(frame, dictionary, path)
        check_keys(frame, dictionary, path)
        sha256 = digest.result() if digest is not None else sha256_file(path)
    return CaseData(frame=frame, path=path, sha256=sha256, dictionary=dictionary, embedded=embedded,
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
        listed = ", ".join(f"{v!r} ({n} rows)" for v, n in found)
        rows = np.flatnonzero(unknown_value[codes])[:5]
        first = ", ".join(str(i + 1) for i in frame.index[rows])
        raise DataError(
            f"{path}: column {column!r}: values not in dictionary {dictionary.source}: {listed}"
            f" (first at data rows {first}, counting from 1 after the header)"
        )
