"""The publication gate of ``foikit run``: the files the template wrote, read back and checked in the parent
process before anything is published.

The kernel computes the answer once (counts, tables, suppression, and the joint audit against the ledger
snapshot the run gave it) and writes the files. The gate checks those files, not a copy of its own:

* ``published.csv`` is read back into the response it states: each row must name the next cell of the
  request's tables and show a number (its count, or its count rounded) or one of the policy's markers;
* the disclosure audit runs on what that file publishes, as an intruder would: the published numbers and
  the bands the markers state are the only constraints. The true counts (the parent's own count of each
  part, made to validate the request) only say which cells are small and so must stay protected: a marker
  that says nothing, ``[c]``, may hide a small count as well as a large one, which no reader can tell;
* the joint audit against the ledger the kernel was given must pass with nothing more withheld;
* ``cells.json`` (the report's ledger entry) must be exactly the entry of what ``published.csv`` shows,
  ``audit.json`` must state the same verdict, policy and withheld cells, and the leak check reads every
  other publishable file (``tables.xlsx``, ``tables.ods``, ``letter.html``, ``letter.docx``) against the counts;
  ``witnesses.json`` must pass the stand-alone proof check against ``published.csv`` and cover every
  withheld small count. (The
  record's charts are not published; the kernel checks their data as it draws them.)

No suppression is computed here: when the files pass, the response they state is published as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from foikit.cube.engine import Cube
from foikit.exceptions import DisclosureError
from foikit.layout import (
    AUDIT_JSON,
    CELLS_JSON,
    LETTER_DOCX,
    LETTER_HTML,
    PUBLISHED_CSV,
    PUBLISHED_CSVW,
    TABLES_ODS,
    TABLES_XLSX,
    WITNESSES_JSON,
)
from foikit.ledger.joint import check_against_ledger
from foikit.ledger.store import Ledger, entry_of
from foikit.publish import leakcheck
from foikit.publish.files import check_audit, csvw_text
from foikit.request.params import Part, Request
from foikit.request.policy import Band, Policy
from foikit.response import PartResult, Response, part_cells
from foikit.sdc.audit import BoundEngine
from foikit.sdc.linear import build_model
from foikit.source.data import CaseData
from foikit.suppress import is_small


def _refused(file: str, what: str) -> DisclosureError:
    return DisclosureError(f"leak check: {file}: {what}; nothing was written")


def _within(band: Band, count: int) -> bool:
    return band.low <= count and (band.high is None or count <= band.high)


def _published_part(part: Part, cube: Cube, cells: pd.DataFrame, rows: list[dict[str, str]], first_line: int,
                    data: CaseData, request: Request) -> PartResult:
    """One part as ``rows`` of published.csv state it (``cells``: its true cells), audited on what they
    publish."""
    policy = Policy.of(request)
    dims_of = {t.name: tuple(t.dims) for t in part.tables}
    for n, (row, table, coords) in enumerate(zip(rows, cells["table"], cells[list(part.dims)].to_dict("records"),
                                                 strict=True), start=first_line):
        if row.get("part") != part.name or row.get("table") != table or \
                any(row.get(d) != str(coords[d]) for d in dims_of[table]):
            raise _refused(PUBLISHED_CSV, f"line {n}: does not name the cell {part.name}/{table} it should")
    value = np.array([row.get("value") or "" for row in rows], dtype=object)
    marker = np.array([row.get("marker") or "" for row in rows], dtype=object)
    counts = cells["value"].to_numpy(dtype=np.int64)
    rounding = policy.rounding
    hidden = np.zeros(len(rows), bool) if rounding else value == ""
    shown = np.where(hidden, marker, value)
    check = policy.leak_policy
    problems = []
    for n, (v, m, s, count, withheld) in enumerate(zip(value, marker, shown, counts, hidden, strict=True),
                                                     start=first_line):
        why = (f"shows {v} and the marker {m!r}" if v != "" and m != "" else
               leakcheck.problem(s, int(count), bool(withheld), check))
        if why is None and withheld and not _within(policy.states(m), int(count)):
            why = f"shows the marker {m!r} for a count it does not state"
        if why:
            problems.append(f"line {n} ({part.name}/{cells['table'].iloc[n - first_line]}) {why}")
    if problems:
        raise _refused(PUBLISHED_CSV, f"{len(problems)} cells break the policy (threshold {policy.threshold}), "
                                      f"first {problems[0]}")
    # What an intruder knows: every published number exactly, every marker as the band it states.
    tables = {t.name: t.dims for t in part.tables}
    model = build_model(cube.categories, tables, [(t, {d: (row[d] or None) for d in tables[t]}) for t, row in
                                                  zip(cells["table"], cells.to_dict("records"), strict=True)])
    if rounding:
        number = shown.astype(np.int64)
        lo, hi = np.maximum(0, number - rounding // 2).astype(float), (number + (rounding - 1) // 2).astype(float)
        pattern = np.ones(len(rows), bool)
    else:
        # what each marker states (policy.states); a shown cell's band is not read
        stated = policy.stated_ranges()
        lo = np.array([stated[m][0] if h else 0.0 for m, h in zip(marker, hidden, strict=True)])
        hi = np.array([stated[m][1] if h else 0.0 for m, h in zip(marker, hidden, strict=True)])
        pattern = hidden
    try:
        # only the verdict is needed: the bounds of the small counts, settled by MILP where they decide it
        result = BoundEngine(model, counts, milp_time_limit=policy.settings.secondary.time_limit).run_audit(
            pattern, lo, hi, is_small(counts, policy.threshold), policy.protection_rule, bound_all=False,
            settle="rule")
    except ValueError as exc:  # the published figures contradict the counts (a band that excludes its count)
        raise _refused(PUBLISHED_CSV, f"part {part.name}: {exc}") from None
    out = cells.assign(hidden=hidden, marker=np.where(hidden, marker, ""),
                       reason=np.where(hidden, np.where(is_small(counts, policy.threshold), "primary", "secondary"),
                                       ""),
                       shown=shown.astype(str), lower=result.lower, upper=result.upper)
    return PartResult(spec=part, cube=cube, cells=out, data=data, audit=result)


def read_published(text: str, request: Request, data: CaseData, cubes: Sequence[Cube]) -> Response:
    """The response ``published.csv`` (its ``text``) states, with every part's disclosure audit of what it
    publishes; ``cubes``: the true count of each part of ``request``. Raises :class:`DisclosureError` when a
    row does not name its cell or shows what the policy does not allow."""
    rows = list(csv.DictReader(io.StringIO(text)))
    true = [part_cells(cube, part) for part, cube in zip(request.parts, cubes, strict=True)]
    n = sum(len(cells) for cells in true)
    if len(rows) != n:
        raise _refused(PUBLISHED_CSV, f"{len(rows)} rows for the {n} cells of the request's tables")
    parts, start = [], 0
    for part, cube, cells in zip(request.parts, cubes, true, strict=True):
        parts.append(_published_part(part, cube, cells, rows[start:start + len(cells)], start + 2, data, request))
        start += len(cells)
    return Response(request=request, data=data, parts=parts)


def _withheld_cells(part: PartResult) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    out = []
    for row in part.cells.loc[part.cells["hidden"].astype(bool)].to_dict("records"):
        dims = part.table_spec(row["table"]).dims
        out.append((row["table"], tuple((d, str(row[d])) for d in dims), row["marker"]))
    return out


def _check_audit_json(raw: object, response: Response) -> None:
    """audit.json states the verdict, the policy and the withheld cells of what published.csv shows."""
    policy = response.policy
    try:
        stated = (raw["passed"], raw["threshold"], raw["rule"],  # type: ignore[index]
                  {p["part"]: sorted((c["table"], tuple((d, str(v)) for d, v in c["cell"].items()), c["marker"])
                                     for c in p["withheld_cells"]) for p in raw["parts"]})  # type: ignore[index]
    except (KeyError, TypeError, AttributeError):
        raise _refused(AUDIT_JSON, "does not hold the audit record (passed, threshold, rule, parts)") from None
    expected = (True, policy.threshold, policy.rule,
                {p.spec.name: sorted(_withheld_cells(p)) for p in response.parts})
    if stated != expected:
        raise _refused(AUDIT_JSON, f"does not state the verdict, policy and withheld cells of {PUBLISHED_CSV}")


def check_written(folder: Path, request: Request, data: CaseData, cubes: Sequence[Cube], ledger: Ledger | None,
                  source: str = "params") -> Response:
    """Check the publishable files a template wrote into ``folder`` (see the module's description) and
    return the response they state; raise :class:`DisclosureError` (nothing is published) if any fails.
    ``cubes``: the true count of each part; ``ledger``: what the kernel audited against."""
    text = (folder / PUBLISHED_CSV).read_text(encoding="utf-8")
    response = read_published(text, request, data, cubes)
    if ledger is not None:
        checked = check_against_ledger(response, ledger, source)
        assert checked.ledger is not None
        if checked.ledger.added:
            raise DisclosureError(
                f"{folder / PUBLISHED_CSV}: together with earlier responses "
                f"({', '.join(checked.ledger.constrained) or ', '.join(checked.ledger.combined)}) the published "
                f"figures give away {len(checked.ledger.exposed_without)} small counts, first "
                f"{checked.ledger.exposed_without[0]}; nothing was written")
        response = replace(response, parts=checked.parts, ledger=checked.ledger)
    check_audit(response)
    _check_audit_json(json.loads((folder / AUDIT_JSON).read_text(encoding="utf-8")), response)
    entry = json.dumps(entry_of(response).to_json(), indent=1, ensure_ascii=False) + "\n"
    if (folder / CELLS_JSON).read_text(encoding="utf-8") != entry:
        raise _refused(CELLS_JSON, f"is not the ledger entry of what {PUBLISHED_CSV} publishes")
    if (folder / PUBLISHED_CSVW).read_text(encoding="utf-8") != csvw_text(response):
        raise _refused(PUBLISHED_CSVW, f"does not describe {PUBLISHED_CSV} and its markers as the policy states them")
    leakcheck.check_xlsx((folder / TABLES_XLSX).read_bytes(), response)
    leakcheck.check_ods((folder / TABLES_ODS).read_bytes(), response)
    leakcheck.check_letter((folder / LETTER_HTML).read_text(encoding="utf-8"), (folder / LETTER_DOCX).read_bytes(),
                           response)
    leakcheck.check_witnesses((folder / WITNESSES_JSON).read_text(encoding="utf-8"), text, response)
    return response

