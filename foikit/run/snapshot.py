"""The input snapshot: the exact extract a response used, stored with its report so that re-execution never
depends on a live system. It is case-level data: part of the internal record, never published."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from foikit.cube import sql
from foikit.cube.engine import profile, spec_for
from foikit.request.params import Request
from foikit.source.data import COVERAGE_KEY, LAST_DAY_KEY, CaseData, last_day


def extract(data: CaseData, request: Request) -> pd.DataFrame:
    """The rows any part of ``request`` counts, with only the columns the response uses, in source order."""
    specs = [spec_for(data, part, "params") for part in request.parts]  # built once per run, kept on data
    return sql.extract_rows(specs, data.relation, "params")


def coverage(data: CaseData, request: Request) -> dict[str, list[str]]:
    """Years present in the whole source by each date column the request uses: the snapshot keeps this so
    that a re-run checks requested years exactly as the original run did."""
    if data.coverage is not None:
        return data.coverage
    columns = list(dict.fromkeys(part.date_column for part in request.parts))
    # the distinct days the checks read (an ISO value's first ten characters: the same years)
    days = profile(data, [], columns)
    return {c: sorted({v[:4] for v in days[("days", c)]} - {""}) for c in columns}


def last_days(data: CaseData, request: Request) -> dict[str, str | None]:
    """The source's last day by each date column the request uses (None: not known), which the response
    states as its coverage (:func:`foikit.ledger.store.extract_end`): the snapshot keeps it, as it holds only
    the response's own rows."""
    out = {}
    for column in dict.fromkeys(part.date_column for part in request.parts):
        day = last_day(data, column)
        out[column] = None if day is None else day.isoformat()
    return out


def content_sha256(frame: pd.DataFrame) -> str:
    """Hash of the extract's content (column names and values as CSV), independent of the file format."""
    return hashlib.sha256(frame.to_csv(index=False, lineterminator="\n").encode("utf-8")).hexdigest()


def write_snapshot(frame: pd.DataFrame, years: dict[str, list[str]], path: Path,
                   days: dict[str, str | None] | None = None) -> Path:
    """Parquet without pandas' metadata (which names the pandas version), so the bytes depend on the data.
    ``years``: :func:`coverage`; ``days``: :func:`last_days`."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {COVERAGE_KEY: json.dumps(years, sort_keys=True).encode()}
    if days is not None:
        metadata[LAST_DAY_KEY] = json.dumps(days, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path, compression="zstd")
    return path
