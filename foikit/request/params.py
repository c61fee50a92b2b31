"""The request schema: what a params/<ref>.yaml may hold, validated before anything runs."""

from __future__ import annotations

import difflib
import itertools
import re
import stat
import typing
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from foikit.exceptions import ParamsError, capped

# A ref names a directory under reports/: no separators, no leading dot.
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")]

# Bounds on what a request may say (documented in the README's params reference). Control characters
# (C0, DEL, C1), lone surrogates and the non-characters U+FFFE/U+FFFF are refused in every text: they break
# the XLSX and DOCX files late, or hide text; free texts may hold newlines and tabs.
FIRST_YEAR, LAST_YEAR = 1900, 2200
MAX_THRESHOLD = 1000
_CONTROL = {False: re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]"),
            True: re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")}


def _checked_text(multiline: bool) -> AfterValidator:
    def check(value: str) -> str:
        bad = _CONTROL[multiline].search(value)
        if bad:
            allowed = " (only newlines and tabs are allowed in this text)" if multiline else ""
            raise ValueError(f"control character U+{ord(bad.group()):04X} at character {bad.start() + 1}{allowed}")
        return value
    return AfterValidator(check)


def _not_a_number(value: str) -> str:
    if not value.strip():
        raise ValueError("a marker must show something: it is blank")
    try:
        float(value)
    except ValueError:
        return value
    raise ValueError("a marker must not read as a number: a reader would take the withheld cell for a figure")


Line = Annotated[str, StringConstraints(max_length=1000), _checked_text(False)]  # labels, categories, columns
# a title (YAML's folded style may end it with a newline)
Title = Annotated[str, StringConstraints(max_length=1000), _checked_text(True)]
# a quoted request; fits one spreadsheet cell (32,767)
LongText = Annotated[str, StringConstraints(max_length=30_000), _checked_text(True)]
Column = Annotated[str, StringConstraints(min_length=1, max_length=200), _checked_text(False)]
Marker = Annotated[str, StringConstraints(min_length=1, max_length=20), _checked_text(False),
                   AfterValidator(_not_a_number)]
PathText = Annotated[str, StringConstraints(max_length=4096), _checked_text(False)]  # PATH_MAX
Query = Annotated[str, StringConstraints(max_length=100_000), _checked_text(True)]
Year = Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR)]


def _category(value: Any) -> Any:
    # YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans: a category written so would silently
    # become 1 or 0.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean: YAML reads unquoted yes/no/true/false/on/off so; quote it")
    return value


def _in_years(value: date) -> date:
    if not date(FIRST_YEAR, 1, 1) <= value <= date(LAST_YEAR, 12, 31):
        raise ValueError(f"date {value} is outside {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31")
    return value


Category = Annotated[Line | Annotated[int, Field(ge=-2**63, le=2**63 - 1)], BeforeValidator(_category)]
FilterValue = Category | list[Category]
Day = Annotated[date, AfterValidator(_in_years)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSource(_Strict):
    """Where the case data comes from: a file (``path``), a database (``url`` or ``url_env``, with ``table`` or
    ``query``), or, when none is given, the template's embedded synthetic dataset."""

    path: PathText | None = Field(None, description="CSV, XLSX or Parquet file of case data, one row per unit")
    url: PathText | None = Field(None, description="SQLAlchemy URL of a database holding the case data")
    url_env: Column | None = Field(None, description="name of an environment variable holding the URL (keeps "
                                "passwords out of params files)")
    table: Column | None = Field(None, description="table (or schema.table) of case data in the database")
    query: Query | None = Field(None, description="a SELECT giving the case data, instead of a table")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="what counts a file: DuckDB, or Apache "
                                               "Spark (spark: also a table of its catalog); the rows are never "
                                               "loaded into Python")
    dictionary: PathText | None = Field(None, description="data dictionary YAML (category order, codes, units)")
    embedded: str | None = Field(None, pattern=r"^[a-z0-9_-]{1,50}$", description="an embedded synthetic extract "
                                 "by name (default: the template's own), when no path or url is given")

    @field_validator("engine", mode="before")
    @classmethod
    def _legacy_engine(cls, value: object) -> object:
        # params of responses made before one engine (foikit 0.1) say pandas: the same counts, now in DuckDB
        return "duckdb" if value == "pandas" else value

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        database = self.url is not None or self.url_env is not None
        if self.url is not None and self.url_env is not None:
            raise ValueError("give url or url_env, not both")
        if database and self.path is not None:
            raise ValueError("give path (a file) or url (a database), not both")
        if database and (self.table is None) == (self.query is None):
            raise ValueError("a database source needs exactly one of table or query")
        if not database and self.query is not None:
            raise ValueError("query needs url (a database)")
        if not database and self.table is not None and self.engine != "spark":
            raise ValueError("table needs url (a database), or engine: spark (a table of Spark's catalog)")
        if self.table is not None and self.path is not None:
            raise ValueError("give path (a file) or table, not both")
        if self.embedded is not None and (database or self.path is not None):
            raise ValueError("embedded names a built-in extract: give it without path or url")
        return self


class Secondary(_Strict):
    """Secondary suppression: extra cells withheld so that no small count can be worked out."""

    method: Literal["fast", "exact"] = Field("fast", description="fast heuristic, or exact MILP for small responses")
    cost: Literal["cells", "value"] = Field("cells", description="minimise the number of cells hidden, or their total")
    total_factor: float = Field(3.0, ge=1, le=1000, allow_inf_nan=False,
                                description="how much more hiding a total costs than an inner cell, 1 to 1000")
    marker: Marker = Field("[c]", description="what a cell withheld to protect others is shown as")
    # true of every cell it marks: a cell withheld to protect others, or a small count switched to it
    note: Title = Field("a small count, or a figure withheld to prevent the calculation of other withheld figures",
                      description="what the secondary marker means, printed in the key")
    marker_switch: bool = Field(True, description="may show a small count as the secondary marker when the "
                                "primary marker's band would let other cells be narrowed")
    marker_cost: float = Field(1.5, gt=0, le=1000, allow_inf_nan=False,
                               description="cost of showing a small count as the secondary marker")
    time_limit: float = Field(60.0, gt=0, le=86_400, allow_inf_nan=False,
                              description="seconds allowed for the exact method (at most a day)")


class Rounding(_Strict):
    """Instead of withholding: every cell rounded to the nearest ``base``, totals rounded independently."""

    base: int = Field(5, ge=2, le=1000, description="the rounding base, 2 to 1000")


RuleKind = Literal["band", "not_exact", "min_width"]


class Suppression(_Strict):
    """Primary suppression: counts from 1 to ``threshold - 1`` are published as ``marker``; 0 is shown.

    The disclosure audit then requires ``rule`` of every such count, and secondary suppression withholds
    more cells until it holds. :class:`foikit.request.policy.Policy` derives everything else from it."""

    threshold: int = Field(5, description="smallest count that is published as it is, 2 to 1000 (1 would "
                           "withhold nothing)")
    marker: Marker = Field("[xx]", description="what a withheld small count is shown as")
    rule: RuleKind | None = Field(
        None, description="band: an intruder cannot narrow a small count below 1..threshold-1 (default); "
        "not_exact: cannot pin it down; min_width: range at least min_width wide. Rounding defaults to not_exact")
    min_width: float = Field(1.0, gt=0, le=MAX_THRESHOLD, allow_inf_nan=False, description="for rule min_width")
    secondary: Secondary = Secondary()
    rounding: Rounding | None = Field(None, description="round every cell instead of withholding")

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: int) -> int:
        # 1 would withhold nothing (counts "from 1 to 0") while the letter and the record still described a
        # suppression policy; foikit answers requests about people, so it always withholds something small.
        if value < 2:
            raise ValueError("must be at least 2: counts from 1 to threshold-1 are withheld, so a threshold "
                             "below 2 would withhold nothing")
        if value > MAX_THRESHOLD:
            raise ValueError(f"must be at most {MAX_THRESHOLD}")
        return value

    @model_validator(mode="after")
    def _markers_differ(self) -> Suppression:
        if self.marker == self.secondary.marker:
            raise ValueError(f"marker and secondary.marker must differ (both {self.marker!r})")
        return self


class Table(_Strict):
    """One published table: counts by ``rows`` x ``columns``, with a Total row and a Total column."""

    name: Name = Field(description="an identifier: lower case, digits, _")
    title: Title = Field(description="the table's title")
    rows: list[Column] = Field(default_factory=list, max_length=8,
                               description="dimensions down the side (data columns or the period)")
    columns: list[Column] = Field(default_factory=list, max_length=8, description="dimensions across the top")

    @property
    def dims(self) -> tuple[str, ...]:
        return (*self.rows, *self.columns)

    @model_validator(mode="after")
    def _has_dims(self) -> Table:
        if not self.dims:
            raise ValueError("a table needs at least one dimension in rows or columns")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"a dimension appears twice in rows/columns: {capped(list(self.dims))}")
        return self


class DateRange(_Strict):
    """An explicit period: ``start`` to ``end``, both days included."""

    label: Line
    start: Day
    end: Day

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"range {capped(self.label, 60)} ends ({self.end}) before it starts ({self.start})")
        return self


Resolve = Literal["first", "last"] | list[Line]


class Part(_Strict):
    """One population of the request (e.g. domestic-abuse allegations) and the tables published about it."""

    name: Name = Field(description="an identifier: lower case, digits, _")
    title: Title = Field(description="heading of this part in the record and the letter")
    request_text: LongText = Field("", description="this part of the request, quoted")
    filter: dict[Column, FilterValue] = Field(default_factory=dict, description="column: value or [values]")
    period: Literal["calendar_year", "financial_year", "range"] = Field(
        "calendar_year", description="calendar years; financial years April-March (labelled 2022/23, given by "
        "their first year); or explicit date ranges")
    years: list[Year] = Field(default_factory=list, description="the years asked for (calendar or financial), "
                             f"{FIRST_YEAR} to {LAST_YEAR}")
    ranges: list[DateRange] = Field(default_factory=list, max_length=1000, description="for period: range")
    date_column: Column = Field("date_recorded", description="the date that places a case in a period")
    counting_unit: Column = Field("allegations", description="a unit named in the data dictionary")
    resolve: dict[Column, Resolve] = Field(
        default_factory=dict, description="for distinct units: where one unit has several values of a "
        "dimension in a period, which wins: first or last in the dictionary's order, or the first of a list")
    merge: dict[Column, dict[Line, list[Line]]] = Field(
        default_factory=dict, description="column: {new label: [categories merged into it]}, before counting")
    withhold_tables: list[Line] = Field(default_factory=list, description="tables withheld as a whole")
    tables: list[Table] = Field(min_length=1, max_length=100, description="the tables published about this population")

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
                    raise ValueError(f"ranges {capped(a.label, 60)} and {capped(b.label, 60)} overlap: a case "
                                     "would count twice")
        elif not self.years or self.ranges:
            raise ValueError(f"period: {self.period} needs years (and no ranges)")
        other = "year" if self.period == "range" else "period"
        if other in self.dims:
            raise ValueError(f"tables use {other!r} but this part's period dimension is {self.period_dim!r}")
        if len(set(self.years)) != len(self.years):
            raise ValueError(f"years repeat: {capped(sorted(y for y in set(self.years) if self.years.count(y) > 1))}")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"table names repeat: {capped(sorted({n for n in names if names.count(n) > 1}))}")
        unknown = sorted(set(self.withhold_tables) - set(names))
        if unknown:
            raise ValueError(f"withhold_tables names tables the part does not have: {capped(unknown)}")
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
    title: Title = Field(description="a short title, shown on the record, the letter and the XLSX")
    template: Name = Field("conduct_allegations", description="the request type: a notebook in notebooks/")
    organisation: Title = Field("the force", description="who answers, as named in the letter")
    # the letter's date and addressee: part of the params, so the record keeps them and verify redraws the same
    # letter; the requester is written into the letter only (never published.csv, the XLSX or audit.json)
    date: Day | None = Field(None, description="the day the response is sent, YYYY-MM-DD (dates the letter)")
    requester: Title = Field("the requester", description="who the letter is addressed to")
    request_text: LongText = Field("", description="the request, quoted as received")
    data: DataSource = Field(DataSource(), description="where the case data comes from")
    # exclude: the name is not a parameter of the template (foikit run hands it the resolved suppression), so a
    # request naming no policy dumps, and so records, exactly as before
    policy: str | None = Field(None, exclude=True, description="a named suppression policy: policies/<name>.yaml "
                               "in the project, else one shipped with foikit (default); fields under "
                               "suppression override it, field by field")
    suppression: Suppression = Field(Suppression(), description="how small counts are protected")
    parts: list[Part] = Field(min_length=1, max_length=50,
                              description="the populations asked about, each with its tables")

    @property
    def dims(self) -> tuple[str, ...]:
        """Every dimension used anywhere in the response: the dimension columns of published.csv."""
        return tuple(dict.fromkeys(d for p in self.parts for d in p.dims))

    @model_validator(mode="before")
    @classmethod
    def _named_policy(cls, data: Any) -> Any:
        # The named policy's settings under the request's own: a name that finds no file is left to the field's
        # check below, which names it.
        if isinstance(data, dict) and data.get("policy") is not None:
            path = policy_path(data["policy"])
            if path is not None:
                data = {**data, "suppression": _overlaid(read_policy(path), data.get("suppression"))}
        return data

    @field_validator("policy")
    @classmethod
    def _policy_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _POLICY_NAME.fullmatch(value):
            raise ValueError("a policy is given by name (lower case letters, digits, - and _, at most 50), "
                             f"not by path: it is {PROJECT_POLICIES}/<name>.yaml or a shipped one")
        if policy_path(value) is None:
            raise ValueError(f"no such policy: neither {PROJECT_POLICIES}/{value}.yaml nor a shipped one "
                             f"({', '.join(shipped_policies())})")
        return value

    @model_validator(mode="after")
    def _unique_parts(self) -> Request:
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names repeat: {capped(sorted({n for n in names if names.count(n) > 1}))}")
        return self


# -- named policies ---------------------------------------------------------------------------------------------
# A force sets its suppression policy once, in a file; requests name it. The project's own folder comes first,
# so a force may replace even `default`; the manifest records which file was read and its sha256.
PROJECT_POLICIES = "policies"  # relative to the folder foikit runs in (the project), beside params/
SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "data" / "policies"
_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


class PolicyFile(_Strict):
    """A policy file: an optional ``description`` and the ``suppression`` settings it sets."""

    description: Title = Field("", description="what the policy is, for people")
    suppression: Suppression = Field(description="the suppression settings a request naming the policy "
                                     "starts from")


def shipped_policies() -> list[str]:
    """The names of the policies foikit ships (foikit/data/policies/)."""
    return sorted(p.stem for p in SHIPPED_POLICIES.glob("*.yaml"))


def policy_path(name: object) -> Path | None:
    """The file a policy name stands for: ``policies/<name>.yaml`` in the project, else the shipped one; None
    when there is neither, or ``name`` is not a plain name (never a path: nothing outside the two folders)."""
    if not isinstance(name, str) or not _POLICY_NAME.fullmatch(name):
        return None
    for folder in (Path(PROJECT_POLICIES), SHIPPED_POLICIES):
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    return None


def read_policy(path: str | Path) -> dict[str, Any]:
    """The ``suppression`` settings of a policy file, as written (a request overlays its own on them); a
    ``ParamsError`` names the file and the field, an unknown key by name."""
    raw = read_yaml(path, "policy file")
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping with suppression: (and description:), got "
                          f"{type(raw).__name__}")
    unknown = sorted(map(str, set(raw) - set(PolicyFile.model_fields)))
    if unknown:  # before pydantic, which would name the missing suppression: first
        field = unknown[0] if len(unknown[0]) <= 60 and unknown[0].isprintable() else capped(unknown[0], 60)
        close = _close_key((unknown[0],), PolicyFile)
        raise ParamsError(f"{path}: {field}: unknown key {capped(unknown[0], 60)}"
                          + (f" (did you mean {close!r}?)" if close else "")
                          + (f" (+{len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    try:
        PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(describe_validation(exc, raw, str(path), PolicyFile)) from None
    return raw["suppression"]


def _overlaid(base: Any, override: Any) -> Any:
    """``override`` laid over ``base``: mappings merged key by key (at every depth), anything else replaced."""
    if override is None:
        return base
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _overlaid(base.get(k), v) if isinstance(v, dict) else v for k, v in override.items()}}
    return override


_TYPE_TAGS = {"str", "int", "float", "bool", "date", "constrained-str", "constrained-int"}


def _named_path(loc: tuple, raw: Any) -> str:
    """``loc`` as a field path through ``raw``, naming a list item by its ``name`` where it has a plain,
    unique one (``parts.domestic_abuse.tables.by_rank``), else by its index; pydantic's own union and
    validator tags in ``loc`` are left out."""
    names: list[str] = []
    node = raw
    for key in loc:
        if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            item = node[key]
            name = item.get("name") if isinstance(item, dict) else None
            same = [i for i in node if isinstance(i, dict) and i.get("name") == name]
            plain = isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,49}", name) and len(same) == 1
            names.append(name if plain and isinstance(name, str) else str(key))
            node = item
        elif isinstance(node, dict) and key in node:
            names.append(key if isinstance(key, str) and len(key) <= 60 else capped(key, 60))
            node = node[key]
        elif not (isinstance(key, str) and ("[" in key or key in _TYPE_TAGS)):  # a missing field
            names.append(str(key) if isinstance(key, int) or len(str(key)) <= 60 else capped(key, 60))
            node = None
    return ".".join(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _close_key(loc: tuple, model: type[BaseModel]) -> str | None:
    """The known key nearest a misspelt one at ``loc`` (``threshhold`` -> ``threshold``), or None."""
    models = [model]
    for key in loc[:-1]:
        if isinstance(key, int) or (isinstance(key, str) and ("[" in key or key in _TYPE_TAGS)):
            continue
        models = [m for parent in models if key in parent.model_fields
                  for m in _models_in(parent.model_fields[key].annotation)]
    known = sorted({name for m in models for name in m.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.75) if known else []
    return close[0] if close else None


def describe_validation(exc: ValidationError, raw: Any, source: str,
                        model: type[BaseModel] | None = None) -> str:
    """A pydantic error as one line: the source, the field (named where it has a name), the first problem,
    the offending value capped (:func:`foikit.exceptions.capped`), and how many more there are."""
    errors = exc.errors()
    if model is not None:  # a misspelt key explains the 'Field required' of the key it meant: it goes first
        errors = sorted(errors, key=lambda e: not (e["type"] == "extra_forbidden" and _close_key(e["loc"], model)))
    err = errors[0]
    field = _named_path(err["loc"], raw) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {capped(err['loc'][-1], 60)}"
        close = _close_key(err["loc"], model) if model is not None else None
        if close is not None:
            msg += f" (did you mean {close!r}?)"
    elif "input" in err and err["type"] not in {"missing"}:
        msg = f"{msg} (got {capped(err['input'])})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {field}: {msg}{more}"


def parse_request(raw: Any, source: str = "<params>") -> Request:
    """Validate a params mapping; a ``ParamsError`` names ``source`` and the offending field."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of request fields, got {type(raw).__name__}")
    try:
        return Request.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(describe_validation(exc, raw, source, Request)) from None


# Every YAML foikit reads (params, dictionaries, ledger imports, a report's params) is small and written by
# hand or by foikit; anything bigger, deeper or more aliased than this is refused before it is built.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 1_000_000  # after alias expansion: a billion-laughs file expands past this at once


class _YamlLimit(yaml.YAMLError):
    pass


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting, alias expansion past :data:`MAX_YAML_NODES` and
    duplicate keys (the later would silently win)."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise _YamlLimit(f"nested more than {MAX_YAML_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as exc:  # e.g. 2020-13-01 read as a date; a 5,000-digit int
            text = "a number of more than 4,300 digits" if "digits" in str(exc) else str(exc) or type(exc).__name__
            raise _YamlLimit(f"{_short(text)} (line {node.start_mark.line + 1})") from None

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise _YamlLimit(f"duplicate key {capped(key.value, 60)} (lines {seen[key.value]} and "
                                         f"{key.start_mark.line + 1}): the later would silently win")
                    seen[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes the document expands to, each shared (aliased) node once per use, without
    expanding it: every node's size is computed once, children first."""
    size: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            size[id(node)] = total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_YAML_NODES:
                raise _YamlLimit(f"aliases expand it to more than {MAX_YAML_NODES:,} values "
                                 f"(line {node.start_mark.line + 1})")
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)


def read_yaml(path: str | Path, what: str, limit: int = MAX_YAML_BYTES) -> Any:
    """Parse a YAML file of at most ``limit`` bytes with :class:`BoundedLoader`; a ``ParamsError`` names the
    file when it is missing, not a file, too big or not YAML. UTF-8 (with or without a byte order mark) or
    UTF-16 with one. The one reader of every YAML foikit reads."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise ParamsError(f"{path}: {what} is not a regular file")
        if info.st_size > limit:
            raise ParamsError(f"{path}: {what} is {info.st_size:,} bytes; at most {limit:,} are read")
        with path.open("rb") as f:
            body = f.read(limit + 1)  # the size may have changed since stat
    except FileNotFoundError:
        raise ParamsError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: {what} is not a regular file") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the {what}: {exc.strerror or type(exc).__name__}") from None
    if len(body) > limit:
        raise ParamsError(f"{path}: {what} is more than {limit:,} bytes; at most {limit:,} are read")
    try:
        loader = BoundedLoader(body)  # decodes the whole file at once: UTF-8 or, after its BOM, UTF-16
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line, without the snippet of the file PyYAML quotes (it may be binary, or huge)."""
    if isinstance(exc, yaml.reader.ReaderError):
        if exc.encoding == "unicode":  # a control character in the text itself
            return f"character U+{exc.character:04X} at character {exc.position + 1}: {exc.reason}"
        return f"not {exc.encoding} text: byte 0x{exc.character:02x} at byte {exc.position} ({exc.reason})"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        text = " ".join(t for t in (exc.context, exc.problem) if t) or type(exc).__name__
        return _short(text) + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark else "")
    return _short((str(exc).splitlines() or [type(exc).__name__])[0])


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def load_request(path: str | Path) -> Request:
    """Load and validate ``params/<ref>.yaml``.

    >>> load_request("params/01.FOI.23.032341.yaml").ref  # doctest: +SKIP
    '01.FOI.23.032341'
    """
    path = Path(path)
    return parse_request(read_yaml(path, "params file"), str(path))
