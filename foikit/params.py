"""The request schema: what a params/<ref>.yaml may hold, validated before anything runs."""

from __future__ import annotations

import datetime
import itertools
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from foikit.exceptions import ParamsError

# A ref names a directory under reports/: no separators, no leading dot.
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
FilterValue = str | int | list[str | int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSource(_Strict):
    """Where the case data comes from: a file (``path``), a database (``url`` or ``url_env``, with ``table`` or
    ``query``), or, when none is given, the template's embedded synthetic dataset."""

    path: str | None = Field(None, description="CSV, XLSX or Parquet file of case data, one row per unit")
    url: str | None = Field(None, description="SQLAlchemy URL of a database holding the case data")
    url_env: str | None = Field(None, description="name of an environment variable holding the URL (keeps "
                                "passwords out of params files)")
    table: str | None = Field(None, description="table (or schema.table) of case data in the database")
    query: str | None = Field(None, description="a SELECT giving the case data, instead of a table")
    engine: Literal["pandas", "duckdb"] = Field("pandas", description="for files: count with pandas, or in "
                                                "DuckDB without loading the rows into Python")
    dictionary: str | None = Field(None, description="data dictionary YAML (category order, codes, units)")
    embedded: str | None = Field(None, pattern=r"^[a-z0-9_-]+$", description="an embedded synthetic extract "
                                 "by name (default: the template's own), when no path or url is given")

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        database = self.url is not None or self.url_env is not None
        if self.url is not None and self.url_env is not None:
            raise ValueError("give url or url_env, not both")
        if database and self.path is not None:
            raise ValueError("give path (a file) or url (a database), not both")
        if database and (self.table is None) == (self.query is None):
            raise ValueError("a database source needs exactly one of table or query")
        if not database and (self.table is not None or self.query is not None):
            raise ValueError("table and query need url (a database)")
        if self.embedded is not None and (database or self.path is not None):
            raise ValueError("embedded names a built-in extract: give it without path or url")
        return self


class Secondary(_Strict):
    """Secondary suppression: extra cells withheld so that no small count can be worked out."""

    method: Literal["fast", "exact"] = Field("fast", description="fast heuristic, or exact MILP for small responses")
    cost: Literal["cells", "value"] = Field("cells", description="minimise the number of cells hidden, or their total")
    total_factor: float = Field(3.0, ge=1, description="how much more hiding a total costs than an inner cell")
    marker: str = Field("[c]", min_length=1, description="what a cell withheld to protect others is shown as")
    note: str = Field("withheld to prevent the calculation of other withheld figures",
                      description="what the secondary marker means, printed in the key")
    marker_switch: bool = Field(True, description="may show a small count as the secondary marker when the "
                                "primary marker's band would let other cells be narrowed")
    marker_cost: float = Field(1.5, gt=0, description="cost of showing a small count as the secondary marker")
    time_limit: float = Field(60.0, gt=0, description="seconds allowed for the exact method")


class Rounding(_Strict):
    """Instead of withholding: every cell rounded to the nearest ``base``, totals rounded independently."""

    base: int = Field(5, ge=2)


class Suppression(_Strict):
    """Primary suppression: counts from 1 to ``threshold - 1`` are published as ``marker``; 0 is shown.

    The disclosure audit then requires ``rule`` of every such count, and secondary suppression withholds
    more cells until it holds."""

    threshold: int = Field(5, ge=1, description="smallest count that is published as it is")
    marker: str = Field("[xx]", min_length=1, description="what a withheld small count is shown as")
    rule: Literal["band", "not_exact", "min_width"] | None = Field(
        None, description="band: an intruder cannot narrow a small count below 1..threshold-1 (default); "
        "not_exact: cannot pin it down; min_width: range at least min_width wide. Rounding defaults to not_exact")
    min_width: float = Field(1.0, gt=0, description="for rule min_width")
    secondary: Secondary = Secondary()
    rounding: Rounding | None = Field(None, description="round every cell instead of withholding")

    @model_validator(mode="after")
    def _markers_differ(self) -> Suppression:
        if self.marker == self.secondary.marker:
            raise ValueError(f"marker and secondary.marker must differ (both {self.marker!r})")
        return self

    @property
    def effective_rule(self) -> str:
        return self.rule or ("not_exact" if self.rounding else "band")


class Table(_Strict):
    """One published table: counts by ``rows`` x ``columns``, with a Total row and a Total column."""

    name: Name = Field(description="an identifier: lower case, digits, _")
    title: str = Field(description="the table's title")
    rows: list[str] = Field(default_factory=list, description="dimensions down the side (data columns or the period)")
    columns: list[str] = Field(default_factory=list, description="dimensions across the top")

    @property
    def dims(self) -> tuple[str, ...]:
        return (*self.rows, *self.columns)

    @model_validator(mode="after")
    def _has_dims(self) -> Table:
        if not self.dims:
            raise ValueError("a table needs at least one dimension in rows or columns")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"a dimension appears twice in rows/columns: {list(self.dims)}")
        return self


class DateRange(_Strict):
    """An explicit period: ``start`` to ``end``, both days included."""

    label: str
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"range {self.label!r} ends ({self.end}) before it starts ({self.start})")
        return self


Resolve = Literal["first", "last"] | list[str]


class Part(_Strict):
    """One population of the request (e.g. domestic-abuse allegations) and the tables published about it."""

    name: Name = Field(description="an identifier: lower case, digits, _")
    title: str = Field(description="heading of this part in the record and the letter")
    request_text: str = Field("", description="this part of the request, quoted")
    filter: dict[str, FilterValue] = Field(default_factory=dict, description="column: value or [values]")
    period: Literal["calendar_year", "financial_year", "range"] = Field(
        "calendar_year", description="calendar years; financial years April-March (labelled 2022/23, given by "
        "their first year); or explicit date ranges")
    years: list[int] = Field(default_factory=list, description="the years asked for (calendar or financial)")
    ranges: list[DateRange] = Field(default_factory=list, description="for period: range")
    date_column: str = Field("date_recorded", description="the date that places a case in a period")
    counting_unit: str = Field("allegations", description="a unit named in the data dictionary")
    resolve: dict[str, Resolve] = Field(
        default_factory=dict, description="for distinct units: where one unit has several values of a "
        "dimension in a period, which wins: first or last in the dictionary's order, or the first of a list")
    merge: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description="column: {new label: [categories merged into it]}, before counting")
    withhold_tables: list[str] = Field(default_factory=list, description="tables withheld as a whole")
    tables: list[Table] = Field(min_length=1, description="the tables published about this population")

    @property
    def dims(self) -> tuple[str, ...]:
        """Every dimension any table of this part uses, in order of first use."""
        return tuple(dict.fromkeys(d for t in self.tables for d in t.dims))

    @property
    def period_dim(self) -> str:
        """The name of the period dimension in tables: ``year``, or ``period`` for explicit ranges."""
        return "period" if self.period == "range" else "year"

    @model_validator(mode="after")
    def _unique(self) -> Part:
        if self.period == "range":
            if not self.ranges or self.years:
                raise ValueError("period: range needs ranges (and no years)")
            spans = sorted(self.ranges, key=lambda r: r.start)
            for a, b in itertools.pairwise(spans):
                if b.start <= a.end:
                    raise ValueError(f"ranges {a.label!r} and {b.label!r} overlap: a case would count twice")
        elif not self.years or self.ranges:
            raise ValueError(f"period: {self.period} needs years (and no ranges)")
        other = "year" if self.period == "range" else "period"
        if other in self.dims:
            raise ValueError(f"tables use {other!r} but this part's period dimension is {self.period_dim!r}")
        if len(set(self.years)) != len(self.years):
            raise ValueError(f"years repeat: {self.years}")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"table names repeat: {names}")
        unknown = sorted(set(self.withhold_tables) - set(names))
        if unknown:
            raise ValueError(f"withhold_tables names tables the part does not have: {unknown}")
        return self


class Request(_Strict):
    """A whole FOI request: its reference, text, data source, suppression policy and parts.

    >>> r = Request.model_validate({"ref": "01.FOI.23.000001", "title": "t", "parts": [
    ...     {"name": "p1", "title": "p", "years": [2020],
    ...      "tables": [{"name": "by_year", "title": "By year", "columns": ["year"]}]}]})
    >>> r.suppression.marker
    '[xx]'
    """

    ref: Ref = Field(description="the request's reference; names the report folder")
    title: str = Field(description="a short title, shown on the record, the letter and the XLSX")
    template: Name = Field("conduct_allegations", description="the request type: a notebook in notebooks/")
    organisation: str = Field("the force", description="who answers, as named in the letter")
    # the letter's date and addressee: part of the params, so the record keeps them and verify redraws the same
    # letter; the requester is written into the letter only (never published.csv, the XLSX or audit.json)
    date: datetime.date | None = Field(None, description="the day the response is sent, YYYY-MM-DD (dates the letter)")
    requester: str = Field("the requester", description="who the letter is addressed to")
    request_text: str = Field("", description="the request, quoted as received")
    data: DataSource = Field(DataSource(), description="where the case data comes from")
    suppression: Suppression = Field(Suppression(), description="how small counts are protected")
    parts: list[Part] = Field(min_length=1, description="the populations asked about, each with its tables")

    @property
    def dims(self) -> tuple[str, ...]:
        """Every dimension used anywhere in the response: the dimension columns of published.csv."""
        return tuple(dict.fromkeys(d for p in self.parts for d in p.dims))

    @model_validator(mode="after")
    def _unique_parts(self) -> Request:
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names repeat: {names}")
        return self


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {err['loc'][-1]!r}"
    elif "input" in err and err["type"] not in {"missing"}:
        msg = f"{msg} (got {err['input']!r})"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {field}: {msg}{more}"


def parse_request(raw: Any, source: str = "<params>") -> Request:
    """Validate a params mapping; a ``ParamsError`` names ``source`` and the offending field."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of request fields, got {type(raw).__name__}")
    try:
        return Request.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc, source)) from None


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file; a ``ParamsError`` names the file when it is missing or not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def load_request(path: str | Path) -> Request:
    """Load and validate ``params/<ref>.yaml``.

    >>> load_request("params/01.FOI.23.032341.yaml").ref  # doctest: +SKIP
    '01.FOI.23.032341'
    """
    path = Path(path)
    return parse_request(read_yaml(path, "params file"), str(path))
