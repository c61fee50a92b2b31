"""The disclosure ledger: every cell already published from a dataset, with its exact definition.

A cell's definition says which rows of the source it counts: the dataset, the counting unit, which date
places a row in a period (the date basis) and the periods, and for each column the values it selects (a
merged category selects several codes, an 'Other' bucket every code not listed, 'Not recorded' the empty
value). Two cells from different responses can then be compared, and combined, in terms of the data itself.

Where it lives:

* ``reports/<ref>/cells.json``: each report's published cells with their definitions (written with the
  published files). The committed reports together are the ledger.
* ``ledger/<ref>.yaml`` (beside reports/): a response made before foikit, imported from its published.csv
  with its definitions given by hand (:func:`read_import`).
* ``reports/<ref>/ledger.json``: the earlier cells a report was audited against, with today's counts of
  their definitions, as they were when it ran: what ``foikit verify`` re-executes on.

>>> entry = entry_of(response)                          # doctest: +SKIP
>>> ledger = load_ledger("reports/", "ledger/")         # doctest: +SKIP
>>> [e.ref for e in ledger.entries][:1]                 # doctest: +SKIP
['01.FOI.23.032341']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from foikit.cube.engine import spec_for
from foikit.cube.spec import DimSpec
from foikit.exceptions import FoikitError, ParamsError, capped_text
from foikit.layout import CELLS_JSON, DICTIONARY_COPY, MANIFEST
from foikit.request.params import read_yaml
from foikit.request.policy import DEFAULT_POLICY
from foikit.source.data import CaseData, last_day

if TYPE_CHECKING:
    from foikit.response import Response

LEDGER_DIR = "ledger"
FORMAT = 1
MAX_JSON_BYTES = 256 * 2**20  # a cells.json or manifest larger than this is not read


@dataclass(frozen=True)
class Selection:
    """The values of one column that a cell counts: ``values`` ('' is 'not recorded'), or with ``negate``
    every value except those."""

    values: tuple[str, ...]
    negate: bool = False

    def to_json(self) -> dict[str, list[str]]:
        return {"not_in" if self.negate else "in": list(self.values)}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Selection:
        if isinstance(raw, list):
            return cls(tuple(sorted(str(v) for v in raw)))
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("in", "not_in"):
            raise ParamsError(f"{where}: a selection is a list of values, {{in: [...]}} or {{not_in: [...]}} "
                              f"(got {raw!r})")
        key, values = next(iter(raw.items()))
        return cls(tuple(sorted(str(v) for v in values)), negate=key == "not_in")

    def contains(self, value: str) -> bool:
        return (value in self.values) != self.negate


Interval = tuple[date, date]  # [start, end)


@dataclass(frozen=True)
class PartRecord:
    """One part of a published response: its population, periods, breakdowns and published cells.

    ``cells`` holds one row per published cell: ``table``, a column per dimension ('' = summed over),
    ``shown`` (as published), ``lower``/``upper`` (what the figure says about the count: a value says
    itself, '[xx]' says 1 to 4, '[c]' says nothing) and, in a ledger snapshot, ``now`` (today's count of
    the cell's definition). ``outside_now``, in a ledger snapshot too: per broken-down dimension with a
    total, today's count of the part's rows outside its categories (0 where its exhaustive breakdown still
    holds), so that a re-run need not count columns its own source (a snapshot) does not hold."""

    ref: str
    part: str
    dataset: str
    unit: str
    additive: bool  # rows are counted (a cell is a sum over any finer partition); False for distinct units
    date_column: str
    where: dict[str, Selection]
    period_dim: str
    periods: dict[str, tuple[Interval, ...]]
    dims: dict[str, tuple[str, dict[str, Selection]]]  # dimension -> (column, label -> selection)
    tables: dict[str, tuple[str, ...]]
    cells: pd.DataFrame = field(repr=False)
    outside_now: dict[str, int] = field(default_factory=dict)

    def definition(self, coords: dict[str, str]) -> tuple[dict[str, Selection], tuple[Interval, ...]]:
        """Which rows a cell counts: column -> selection, and the date intervals."""
        where = dict(self.where)
        for dim, label in coords.items():
            if label == "" or dim == self.period_dim:
                continue
            column, labels = self.dims[dim]
            where[column] = labels[label]
        label = coords.get(self.period_dim, "")
        periods = self.periods[label] if label else tuple(i for v in self.periods.values() for i in v)
        return where, tuple(sorted(periods))

    @property
    def n_withheld(self) -> int:
        """Cells published as a marker, not a number."""
        return int((~self.cells["shown"].str.fullmatch(r"\d+")).sum())

    @property
    def span(self) -> Interval:
        intervals = [i for v in self.periods.values() for i in v]
        return min(s for s, _ in intervals), max(e for _, e in intervals)

    def to_json(self) -> dict[str, Any]:
        cells = []
        for row in self.cells.to_dict("records"):
            dims = self.tables[row["table"]]
            cell = {"table": row["table"], "cell": {d: row[d] for d in dims}, "shown": row["shown"],
                    "lower": _json_number(row["lower"]), "upper": _json_number(row["upper"])}
            if "now" in row and not pd.isna(row["now"]):
                cell["now"] = int(row["now"])
            cells.append(cell)
        out = {
            "part": self.part, "unit": self.unit, "additive": self.additive, "date_column": self.date_column,
            "where": {c: s.to_json() for c, s in self.where.items()},
            "periods": {"dim": self.period_dim, "labels": {
                label: [[s.isoformat(), e.isoformat()] for s, e in v] for label, v in self.periods.items()}},
            "dims": {d: {"column": col, "labels": {lab: s.to_json() for lab, s in labels.items()}}
                     for d, (col, labels) in self.dims.items()},
            "tables": {t: list(ds) for t, ds in self.tables.items()},
            "cells": cells,
        }
        if self.outside_now:
            out["outside_now"] = {d: int(n) for d, n in self.outside_now.items()}
        return out


@dataclass(frozen=True)
class LedgerEntry:
    """One published response: where it came from and its parts."""

    ref: str
    dataset: str
    published_at: str  # ISO time of publication ('' when unknown)
    origin: str  # the report folder or the import file
    parts: tuple[PartRecord, ...]

    @property
    def n_cells(self) -> int:
        return sum(len(p.cells) for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "ref": self.ref, "dataset": self.dataset,
                "parts": [p.to_json() for p in self.parts]}


@dataclass(frozen=True)
class Unreadable:
    """A report folder that cannot be read as a ledger entry, and the dataset its other files name (None when
    they cannot tell): it stops every run over that dataset (any run, when unknown) unless ignored by name."""

    ref: str  # the folder's name
    path: str
    reason: str
    dataset: str | None

    def line(self) -> str:
        return f"{self.ref}: {self.reason}"


@dataclass(frozen=True)
class Ledger:
    """Everything published that a new response must be checked against."""

    entries: tuple[LedgerEntry, ...] = ()
    unrecorded: tuple[str, ...] = ()  # published reports the analyst chose to ignore (--ignore): NOT checked
    unreadable: tuple[Unreadable, ...] = ()  # folders not read as entries: refused until repaired or ignored

    def for_dataset(self, dataset: str, exclude: str | None = None) -> Ledger:
        """Entries over ``dataset``, without ``exclude`` (a superseded ``<ref>.vN`` stays: it was published)."""
        return replace(self, entries=tuple(e for e in self.entries if e.dataset == dataset and e.ref != exclude))

    def only(self, refs: Iterable[str]) -> Ledger:
        wanted = set(refs)
        return replace(self, entries=tuple(e for e in self.entries if e.ref in wanted))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "entries": [
            {**e.to_json(), "published_at": e.published_at, "origin": e.origin} for e in self.entries],
            "unrecorded": list(self.unrecorded)}

    def changes_since(self, recorded: dict[str, Any]) -> list[str]:
        """What was published, superseded or removed since ``recorded`` (a :meth:`to_json` snapshot, such as a
        draft's ledger.json) was taken, one phrase per response; today's counts (``now``) are not compared: the
        question is whether the responses a draft was audited against are still exactly what is published."""
        def published(entries: Iterable[dict[str, Any]]) -> dict[str, str]:
            out = {}
            for e in entries:
                parts = [{**{k: v for k, v in p.items() if k != "outside_now"},
                          "cells": [{k: v for k, v in c.items() if k != "now"} for c in p.get("cells", [])]}
                         for p in e.get("parts", [])]
                # where the folder was read from is not what was published
                out[str(e.get("ref"))] = json.dumps({**e, "parts": parts, "origin": None}, sort_keys=True)
            return out

        was = published(recorded.get("entries", []))
        now = published(self.to_json()["entries"])
        return ([f"{ref} was published" for ref in sorted(now.keys() - was.keys())]
                + [f"{ref} is no longer in the reports folder" for ref in sorted(was.keys() - now.keys())]
                + [f"{ref} changed" for ref in sorted(was.keys() & now.keys()) if was[ref] != now[ref]])


def check_readable(ledger: Ledger, dataset: str, where: str, ignore: Iterable[str] = ()) -> Ledger:
    """Refuse to go on while a report folder over ``dataset`` (or over an unknown dataset) cannot be read as a
    ledger entry: auditing without it would silently narrow what counts as published. Folders named in
    ``ignore`` (``--ignore REF``) are let through and listed in ``unrecorded``, which the record shows."""
    ignore = set(ignore)
    relevant = [u for u in ledger.unreadable if u.dataset is None or u.dataset == dataset]
    unknown = sorted(ignore - {u.ref for u in relevant})
    if unknown:
        raise ParamsError(f"{where}: --ignore {capped_text(unknown[0])!r}: no report of that name over dataset "
                          f"{dataset!r} is unreadable; nothing to ignore")
    blocking = [u for u in relevant if u.ref not in ignore]
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more: {', '.join(u.ref for u in blocking[1:4])})" if len(blocking) > 1 \
            else ""
        over = f"dataset {dataset!r}" if first.dataset else "an unknown dataset (so it may be any)"
        raise ParamsError(
            f"{capped_text(first.path)}: cannot be read as a ledger entry ({first.reason}){more}; it was published "
            f"over {over}, so nothing is audited without it: restore its cells.json, or pass --ignore "
            f"{capped_text(first.ref)} to go on without it (it is then listed as not checked in the record)")
    ignored = tuple(f"{u.line()} (ignored with --ignore)" for u in relevant)
    return replace(ledger, unreadable=(), unrecorded=tuple(dict.fromkeys((*ledger.unrecorded, *ignored))))


def next_version(reports_dir: Path, ref: str) -> str:
    """The name a superseded ``ref`` is kept under: the first ``<ref>.vN`` not yet taken."""
    n = 1
    while (reports_dir / f"{ref}.v{n}").exists():
        n += 1
    return f"{ref}.v{n}"


def _json_number(v: float) -> int | None:
    return None if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))) else int(v)


# -- what a published figure says about its count ---------------------------------------------------------
def stated_band(shown: str, markers: dict[str, tuple[float, float]], rounding: int | None = None
                ) -> tuple[float, float]:
    """The range a published figure states: a number (rounded to ``rounding`` if given), or a marker's."""
    if shown in markers:
        return markers[shown]
    try:
        value = int(shown)
    except ValueError:
        raise ParamsError(f"published value {shown!r} is neither a number nor a known marker "
                          f"({', '.join(markers)})") from None
    if rounding:
        return float(max(0, value - rounding // 2)), float(value + (rounding - 1) // 2)
    return float(value), float(value)


def _label_selection(dim: DimSpec, label: str) -> Selection:
    """The raw values published under ``label``."""
    if dim.other is not None and label == dim.other:
        listed = {raw for raw, lab in dim.codes.items() if lab != label}
        if dim.missing != label:
            listed.add("")
        return Selection(tuple(sorted(listed)), negate=True)
    raws = {raw for raw, lab in dim.codes.items() if lab == label}
    if label == dim.missing:
        raws.add("")
    return Selection(tuple(sorted(raws)))


def extract_end(data: CaseData, column: str) -> date:
    """The day after the extract's last date in ``column``: what the extract can cover. A period is recorded
    up to it (a year past the extract date counts only its first months, and says so), as a reader who
    knows the extract's date reads it. A source held in a database is not scanned for it (no limit); a
    snapshot states its original source's (:func:`foikit.source.data.last_day`)."""
    last = last_day(data, column)
    return date.max if last is None else last + timedelta(days=1)


def entry_of(response: Response) -> LedgerEntry:
    """The response's own entry in the ledger: every published cell of every part, with its definition."""
    request, data = response.request, response.data
    policy = response.policy
    markers, base = policy.stated_ranges(), policy.rounding
    parts = []
    for i, part in enumerate(response.parts):
        spec = part.cube.spec
        if spec is None:
            spec = spec_for(data, part.spec, f"params: parts.{i}")
        period = spec.period
        dims = {d.name: (d.column, {label: _label_selection(d, label) for label in d.categories})
                for d in spec.dims}
        end = extract_end(data, period.column)
        cells = part.cells.reindex(columns=["table", *part.spec.dims, "shown"]).copy()
        cells[list(part.spec.dims)] = cells[list(part.spec.dims)].fillna("")
        bands = [stated_band(s, markers, base) for s in cells["shown"]]
        cells["lower"] = [b[0] for b in bands]
        cells["upper"] = [b[1] for b in bands]
        parts.append(PartRecord(
            ref=request.ref, part=part.spec.name, dataset=data.dictionary.name, unit=part.spec.counting_unit,
            additive=not spec.unit_key, date_column=period.column,
            where={c: Selection(tuple(sorted(v))) for c, v in spec.filters.items()},
            period_dim=period.name,
            periods={label: ((s, min(e, end) if s < end else e),) for label, s, e in
                     zip(period.labels, period.starts, period.ends, strict=True)},
            dims=dims, tables={t.name: tuple(t.dims) for t in part.spec.tables}, cells=cells.reset_index(drop=True),
        ))
    return LedgerEntry(ref=request.ref, dataset=data.dictionary.name, published_at="", origin="",
                       parts=tuple(parts))


# -- reading ------------------------------------------------------------------------------------------------
def _dates(raw: Sequence[str], where: str) -> Interval:
    try:
        start, end = (date.fromisoformat(str(v)) for v in raw)
    except (TypeError, ValueError):
        raise ParamsError(f"{where}: a period is [start, end) as two ISO dates (got {raw!r})") from None
    if not start < end:
        raise ParamsError(f"{where}: a period must end after it starts (got {raw!r})")
    return start, end


def _through(first: object, last: object, where: str) -> Interval:
    """A period written as its first and last day (both included), as [start, end)."""
    try:
        end = date.fromisoformat(str(last)) + timedelta(days=1)
    except ValueError:
        raise ParamsError(f"{where}: a period's last day must be an ISO date (got {last!r})") from None
    return _dates([str(first), end.isoformat()], where)


def _part_from_json(raw: dict[str, Any], ref: str, dataset: str, where: str) -> PartRecord:
    try:
        periods = {str(label): tuple(_dates(v, f"{where}.periods.{label}") for v in intervals)
                   for label, intervals in raw["periods"]["labels"].items()}
        dims = {d: (v["column"], {str(lab): Selection.from_json(s, f"{where}.dims.{d}.{lab}")
                                  for lab, s in v["labels"].items()}) for d, v in raw["dims"].items()}
        tables = {t: tuple(ds) for t, ds in raw["tables"].items()}
        rows = []
        for c in raw["cells"]:
            row = {"table": c["table"], **{d: "" for d in [raw["periods"]["dim"], *dims]}, **c["cell"],
                   "shown": str(c["shown"]),
                   "lower": 0.0 if c["lower"] is None else float(c["lower"]),
                   "upper": math.inf if c["upper"] is None else float(c["upper"])}
            if "now" in c:
                row["now"] = int(c["now"])
            rows.append(row)
        return PartRecord(
            ref=ref, part=raw["part"], dataset=dataset, unit=raw["unit"], additive=bool(raw["additive"]),
            date_column=raw["date_column"],
            where={c: Selection.from_json(s, f"{where}.where.{c}") for c, s in raw["where"].items()},
            period_dim=raw["periods"]["dim"], periods=periods, dims=dims, tables=tables,
            cells=pd.DataFrame(rows).fillna({d: "" for d in [raw["periods"]["dim"], *dims]}),
            outside_now=_outside_from_json(raw.get("outside_now", {}), dims, where),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ParamsError(f"{where}: not a ledger entry ({type(exc).__name__}: {capped_text(str(exc))})") from None


def _outside_from_json(raw: Any, dims: dict[str, Any], where: str) -> dict[str, int]:
    if not isinstance(raw, dict) or not all(d in dims and isinstance(n, int) and not isinstance(n, bool)
                                            and n >= 0 for d, n in raw.items()):
        raise ParamsError(f"{where}.outside_now: a count (an integer from 0) per dimension of the part "
                          f"(got {capped_text(repr(raw))})")
    return {str(d): int(n) for d, n in raw.items()}


def _check_shape(record: PartRecord, where: str) -> None:
    """Every cell names a table and labels the part defines, so that later steps cannot fail on it."""
    dims = {record.period_dim: set(record.periods), **{d: set(v[1]) for d, v in record.dims.items()}}
    for t, ds in record.tables.items():
        if not set(ds) <= set(dims):
            raise ParamsError(f"{where}: table {capped_text(t)!r} uses dimensions the part does not define")
    for row in record.cells.to_dict("records"):
        table = row.get("table")
        if table not in record.tables or any(not isinstance(row.get(d), str) or row[d] not in dims[d] | {""}
                                             for d in record.tables[table]):
            raise ParamsError(f"{where}: a cell of table {capped_text(str(table))!r} has labels its part does not "
                              "define")
    if not record.periods or not all(record.periods.values()):
        raise ParamsError(f"{where}: a part needs periods")


def entry_from_json(raw: dict[str, Any], where: str, published_at: str = "", origin: str = "") -> LedgerEntry:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ParamsError(f"{where}: not a foikit ledger entry of format {FORMAT}")
    if not isinstance(raw.get("ref"), str) or not isinstance(raw.get("dataset"), str) \
            or not isinstance(raw.get("parts"), list) or not all(isinstance(p, dict) for p in raw["parts"]):
        raise ParamsError(f"{where}: not a ledger entry (needs a ref, a dataset and a list of parts)")
    parts = tuple(_part_from_json(p, raw["ref"], raw["dataset"], f"{where}: parts.{i}")
                  for i, p in enumerate(raw["parts"]))
    for i, p in enumerate(parts):
        _check_shape(p, f"{where}: parts.{i}")
    return LedgerEntry(ref=raw["ref"], dataset=raw["dataset"], published_at=str(raw.get("published_at", published_at)),
                       origin=str(raw.get("origin", origin)), parts=parts)


def _read_json(path: Path) -> Any:
    """A JSON file of a report, or a ParamsError saying why not (never quoting the file's content)."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ParamsError(f"{path.name} is larger than {MAX_JSON_BYTES // 2**20} MB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path.name} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path.name} cannot be read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ParamsError(f"{path.name} is not JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ParamsError(f"{path.name} is nested too deeply") from None


def read_report_entry(report: Path) -> LedgerEntry:
    """A report's entry, dated by its manifest. A superseded report keeps its folder name, ``<ref>.vN``, in
    the entry and in each part, so that it stays in the ledger beside the version that replaced it."""
    raw = _read_json(report / CELLS_JSON)
    published = ""
    if (report / MANIFEST).is_file():
        try:
            manifest = _read_json(report / MANIFEST)
            review = manifest.get("review")
            when = review or manifest.get("run", {})  # published when reviewed (foikit publish)
            published = str(when.get("published_at", when.get("ended", ""))) if isinstance(when, dict) else ""
        except (ParamsError, AttributeError):
            manifest, review, published = None, None, ""
        # foikit publish is the way in: a folder foikit made that records no review is a draft moved by hand
        if isinstance(manifest, dict) and not (isinstance(review, dict) and review.get("reviewer")):
            raise ParamsError("manifest.json records no reviewer: it was not published with foikit publish (move "
                              "it back to drafts/ and publish it, or --ignore it)")
    entry = entry_from_json(raw, CELLS_JSON, published, str(report))
    return replace(entry, ref=report.name, parts=tuple(replace(p, ref=report.name) for p in entry.parts))


def _dataset_of(report: Path) -> str | None:
    """The dataset a report folder was published over, from its dictionary copy, manifest or cells.json (None
    when none of them says): for a folder whose ledger entry cannot be read."""
    def named(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    try:
        path = report / DICTIONARY_COPY
        if path.is_file():
            raw = read_yaml(path, "dictionary copy")
            if isinstance(raw, dict) and named(raw.get("name")):
                return raw["name"]
    except (OSError, FoikitError):
        pass
    for name, keys in ((MANIFEST, ("inputs", "dictionary", "name")), (CELLS_JSON, ("dataset",))):
        try:
            value: Any = _read_json(report / name)
        except ParamsError:
            continue
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if named(value):
            return value
    return None


def _unreadable(report: Path, exc: ParamsError) -> Unreadable:
    return Unreadable(report.name, str(report), capped_text(str(exc)), _dataset_of(report))


def read_import(path: str | Path) -> LedgerEntry:
    """A response published before foikit: its published.csv and a small YAML giving the definitions.

    The YAML names the ``ref``, ``dataset``, ``published`` date, ``published_csv`` (beside it; foikit's
    long form: part, table, a column per dimension, value, marker), the ``markers`` and each part's
    ``unit``, ``date_column``, ``where`` (column -> values), ``periods`` (``dim`` and label -> [first day,
    last day]) and ``dims`` (dimension -> column, and optionally label -> raw codes; by default a label is
    its own code and 'Not recorded' the empty value). See ``ledger/README.md``."""
    path = Path(path)
    try:
        raw = read_yaml(path, "ledger import")
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the import ({exc})") from None
    where = str(path)
    try:
        csv_path = path.parent / raw["published_csv"]
        published = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        markers = ({m: (float(b[0]), math.inf if b[1] is None else float(b[1])) for m, b in raw["markers"].items()}
                   if raw.get("markers") else DEFAULT_POLICY.stated_ranges())
        parts = []
        for name, p in raw["parts"].items():
            rows = published[published["part"] == name]
            if rows.empty:
                raise ParamsError(f"{where}: parts.{name}: no rows of {csv_path.name} have part {name!r}")
            period_dim = p["periods"]["dim"]
            periods: dict[str, tuple[Interval, ...]] = {
                str(label): (_through(first, last, f"{where}: parts.{name}.periods.{label}"),)
                for label, (first, last) in p["periods"]["labels"].items()}
            dims: dict[str, tuple[str, dict[str, Selection]]] = {}
            for d, spec in (p.get("dims") or {}).items():
                codes = spec.get("codes") or {}
                labels = {}
                for label in sorted(set(rows[d]) - {""}):
                    listed = codes.get(label, [""] if label == "Not recorded" else [label])
                    labels[label] = Selection.from_json(listed, f"{where}: parts.{name}.dims.{d}.{label}")
                dims[d] = (spec.get("column", d), labels)
            tables = {}
            for table, group in rows.groupby("table", sort=False):
                tables[str(table)] = tuple(d for d in [period_dim, *dims] if (group[d] != "").any())
            cells = rows[["table", period_dim, *dims]].copy()
            cells["shown"] = [v if v != "" else m for v, m in zip(rows["value"], rows["marker"], strict=True)]
            bands = [stated_band(s, markers, raw.get("rounding")) for s in cells["shown"]]
            cells["lower"] = [b[0] for b in bands]
            cells["upper"] = [b[1] for b in bands]
            unknown = set(rows[period_dim]) - set(periods) - {""}
            if unknown:
                raise ParamsError(f"{where}: parts.{name}.periods.labels: no dates for {sorted(unknown)}")
            parts.append(PartRecord(
                ref=raw["ref"], part=name, dataset=raw["dataset"], unit=p.get("unit", "allegations"),
                additive=bool(p.get("additive", True)), date_column=p["date_column"],
                where={c: Selection.from_json(v if isinstance(v, list | dict) else [v], f"{where}: where.{c}")
                       for c, v in (p.get("where") or {}).items()},
                period_dim=period_dim, periods=periods, dims=dims, tables=tables,
                cells=cells.reset_index(drop=True)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ParamsError(f"{where}: missing or malformed field ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise ParamsError(f"{where}: {exc}") from None
    return LedgerEntry(ref=str(raw["ref"]), dataset=str(raw["dataset"]), published_at=str(raw.get("published", "")),
                       origin=str(path), parts=tuple(parts))


def load_ledger(*paths: str | Path | None) -> Ledger:
    """The ledger from any of: a ledger.json snapshot, a folder of reports (each with cells.json), a folder of
    imports (``*.yaml``) or one import; missing folders are empty. Entries are in publication order."""
    entries: list[LedgerEntry] = []
    unrecorded: list[str] = []
    unreadable: list[Unreadable] = []
    for raw_path in paths:
        if raw_path is None:
            continue
        path = Path(raw_path)
        if path.is_file() and path.suffix == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries += [entry_from_json(e, f"{path}: entries.{i}") for i, e in enumerate(raw.get("entries", []))]
            unrecorded += raw.get("unrecorded", [])
        elif path.is_file():
            entries.append(read_import(path))
        elif path.is_dir():
            # every folder but the hidden ones (.failures) is a report: one that cannot be read is kept as
            # unreadable, never skipped
            for report in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
                try:
                    entries.append(read_report_entry(report))
                except ParamsError as exc:
                    unreadable.append(_unreadable(report, exc))
            entries += [read_import(p) for p in sorted(path.glob("*.yaml"))]
    entries.sort(key=lambda e: (e.published_at, e.ref))
    return Ledger(tuple(entries), tuple(unrecorded), tuple(unreadable))


def ledger_table(ledger: Ledger) -> pd.DataFrame:
    """One row per published part: dataset, ref, when, unit, date basis, periods, cells and withheld cells."""
    rows = []
    for e in ledger.entries:
        for p in e.parts:
            first, end = p.span
            rows.append({"dataset": e.dataset, "ref": e.ref, "published": e.published_at[:10], "part": p.part,
                         "unit": p.unit, "date basis": p.date_column,
                         "periods": f"{', '.join(p.periods)} ({first} to {end - timedelta(days=1)})",
                         "cells": len(p.cells), "withheld": p.n_withheld, "from": e.origin})
    columns = ["dataset", "ref", "published", "part", "unit", "date basis", "periods", "cells", "withheld", "from"]
    return pd.DataFrame(rows, columns=columns).sort_values(["dataset", "published", "ref"], kind="stable")
