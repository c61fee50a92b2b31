"""The publishable files: published.csv (long form) and the spreadsheets of tables, byte-identical per input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from foikit.exceptions import DisclosureError
from foikit.layout import AUDIT_JSON, CELLS_JSON, PUBLISHED_CSV, PUBLISHED_CSVW, TABLES_ODS, TABLES_XLSX
from foikit.ledger.store import entry_of
from foikit.publish import leakcheck, spreadsheet
from foikit.publish.letter import write_letter
from foikit.publish.proof import write_witnesses_json
from foikit.request.policy import Policy
from foikit.response import Response
from foikit.suppress import is_small


def check_no_leak(published: pd.DataFrame, policy: Policy) -> None:
    """Refuse any published value from 1 to threshold-1, whatever code produced the table."""
    values = pd.to_numeric(published["value"].replace("", np.nan), errors="coerce")
    leaks = published.loc[is_small(values.fillna(0).to_numpy(), policy.threshold)]
    if len(leaks):
        first = leaks.iloc[0].to_dict()
        raise DisclosureError(f"leak check: {len(leaks)} published values are {policy.small_range}, "
                              f"first {first}; nothing was written")


def check_audit(response: Response) -> None:
    """The publication gate: refuse unless the disclosure audit passes for every part."""
    failing = [f"{part.spec.name}.{f}" for part in response.parts for f in part.audit.failures()]
    if failing:
        policy = response.policy
        raise DisclosureError(f"disclosure audit failed for {len(failing)} cells (rule {policy.rule}, "
                              f"threshold {policy.threshold}), first {failing[0]}; nothing was written\n"
                              + "\n".join(failing))


def _number(v: float) -> int | None:
    return None if np.isnan(v) or np.isinf(v) else int(v)


def audit_record(response: Response) -> dict:
    """The audit as data (audit.json): policy, verdict and every withheld cell's derivable range.
    It holds no true value of a withheld cell, so it can be published beside published.csv."""
    policy = response.policy
    parts = []
    for part in response.parts:
        result = part.audit
        cells = []
        for i in np.flatnonzero(part.cells["hidden"].to_numpy()):
            cell = part.cells.iloc[i]
            dims = part.table_spec(cell["table"]).dims
            cells.append({
                "table": cell["table"], "cell": {d: cell[d] for d in dims}, "marker": cell["marker"],
                "reason": cell["reason"], "derivable_lower": _number(result.lower[i]),
                "derivable_upper": _number(result.upper[i]), "protected": bool(result.cell_passed[i]),
            })
        stats = {k: part.stats[k] for k in ("n_primary", "n_secondary", "n_marker_switched", "marker_switch")
                 if k in part.stats}
        parts.append({"part": part.spec.name, "passed": result.passed, "model": result.model.kind,
                      "withheld_cells": cells, "counts": stats})
    return {
        "ref": response.request.ref,
        "rule": policy.rule,
        "threshold": policy.threshold,
        "markers": policy.audit_meanings(),
        "rounding": policy.rounding,
        "passed": response.passed,
        "parts": parts,
        # earlier responses this one was audited together with (foikit run always gives the ledger)
        "ledger": response.ledger.summary() if response.ledger is not None else None,
    }


def write_audit_json(response: Response, out_dir: Path) -> Path:
    path = out_dir / AUDIT_JSON
    path.write_text(json.dumps(audit_record(response), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_published_csv(response: Response, out_dir: Path) -> Path:
    published = response.published()
    check_no_leak(published, response.policy)
    path = out_dir / PUBLISHED_CSV
    text = published.to_csv(index=False, lineterminator="\n")
    leakcheck.check_csv(text, response)  # what is about to be written, read back independently
    path.write_bytes(text.encode("utf-8"))
    return path


def csvw_metadata(response: Response) -> dict:
    """W3C tabular metadata (CSV on the Web) for published.csv: every column with its datatype and meaning,
    which value is empty for what, and each marker with what it states, so that software reads a marker as a
    withheld figure and never as a number or a zero. Only what the response publishes anyway."""
    request, policy = response.request, response.policy
    dictionary = response.data.dictionary
    parts = {p.spec.name: p.spec for p in response.parts}
    tables = sorted({t.name for p in parts.values() for t in p.tables})

    def one_of(values: list[str]) -> dict:
        # a string column whose values are exactly these (CSVW: `format` is a regular expression)
        return {"base": "string", "format": "^(" + "|".join(re.escape(v) for v in values) + ")$"}

    columns: list[dict] = [
        {"name": "part", "titles": "part", "datatype": one_of(list(parts)), "required": True,
         "dc:description": "Which part of the request the figure answers: "
                           + "; ".join(f"{name}: {spec.title}" for name, spec in parts.items())},
        {"name": "table", "titles": "table", "datatype": one_of(tables), "required": True,
         "dc:description": "Which table of its part the figure is in"},
    ]
    for dim in request.dims:
        columns.append({"name": dim, "titles": dim, "datatype": "string", "null": "",
                        "dc:description": f"{dictionary.label(dim)}; empty: the figure is the total over every "
                                          f"{dictionary.label(dim).lower()} (or the table has no such breakdown)"})
    columns.append({"name": "value", "titles": "value", "datatype": {"base": "nonNegativeInteger"}, "null": "",
                    "dc:description": (f"The published count, rounded to the nearest {policy.rounding}"
                                       if policy.rounding else "The published count")
                                      + "; empty where the figure is withheld (its marker says why)"})
    meanings = policy.audit_meanings()

    def stated(marker: str) -> str:
        band = policy.states(marker)
        return "; it may stand for any count" if band.high is None else ""

    columns.append({"name": "marker", "titles": "marker", "datatype": one_of(list(policy.markers)), "null": "",
                    "dc:description": "Why the figure is withheld; empty where it is published. " + " ".join(
                        f"{m}: {meanings[m]}{stated(m)}." for m in policy.markers)})
    return {
        "@context": ["http://www.w3.org/ns/csvw", {"@language": "en"}],
        "url": PUBLISHED_CSV,
        "dc:identifier": request.ref,
        "dc:title": request.title,
        "dc:publisher": request.organisation,
        "dc:description": "One row per published figure of the response, every total included: the figure's "
                          "part, table and breakdown, then its value or its marker.",
        "dialect": {"encoding": "utf-8", "header": True, "lineTerminators": ["\n"], "doubleQuote": True},
        "tableSchema": {"columns": columns},
    }


def csvw_text(response: Response) -> str:
    return json.dumps(csvw_metadata(response), indent=1, ensure_ascii=False) + "\n"


def write_csvw(response: Response, out_dir: Path) -> Path:
    path = out_dir / PUBLISHED_CSVW
    path.write_bytes(csvw_text(response).encode("utf-8"))
    return path


def _write_spreadsheet(response: Response, out_dir: Path, name: str,
                       to_bytes: Callable[[spreadsheet.Spreadsheet, str], bytes],
                       check: Callable[[bytes, Response], None]) -> Path:
    """One spreadsheet file of the model, leak-checked as read back from its bytes before it is written."""
    check_no_leak(response.published(), response.policy)
    data = to_bytes(spreadsheet.model(response), name)
    check(data, response)
    path = out_dir / name
    path.write_bytes(data)
    return path


def write_xlsx(response: Response, out_dir: Path) -> Path:
    """tables.xlsx: the spreadsheet model (cover, contents, notes, one sheet per table) in Office Open XML."""
    return _write_spreadsheet(response, out_dir, TABLES_XLSX, spreadsheet.xlsx_bytes, leakcheck.check_xlsx)


def write_ods(response: Response, out_dir: Path) -> Path:
    """tables.ods: the same spreadsheet model in OpenDocument."""
    return _write_spreadsheet(response, out_dir, TABLES_ODS, spreadsheet.ods_bytes, leakcheck.check_ods)


def write_cells_json(response: Response, out_dir: Path) -> Path:
    """``cells.json``: the response's entry in the ledger (no true value of a withheld cell)."""
    check_no_leak(response.published(), response.policy)  # the same shown values
    path = Path(out_dir) / CELLS_JSON
    path.write_text(json.dumps(entry_of(response).to_json(), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def write_publishable(response: Response, out_dir: str | Path) -> list[Path]:
    """Write every publishable file of ``response`` into ``out_dir``, only if the disclosure audit passes
    and the leak check finds no small count; returns their paths. A response not checked against the
    disclosure ledger (``answer(..., ledger=...)``) is refused: alone it may pass and still give away a count
    together with what was published before."""
    if response.ledger is None:
        raise DisclosureError(
            f"{out_dir}: nothing written: response {response.request.ref} was not checked against the disclosure "
            "ledger; give the template the project's reports folder (papermill -p ledger reports/), as "
            "foikit run does, or answer(request, data, ledger=load_ledger('reports/'))")
    check_audit(response)
    leakcheck.check_charts(response)  # the record's charts draw the published tables
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:  # each writer runs the leak check on its file's content just before writing it
        for write in (write_published_csv, write_csvw, write_xlsx, write_ods, write_audit_json, write_cells_json,
                      write_witnesses_json):
            written.append(write(response, out_dir))
        written += write_letter(response, out_dir)
    except DisclosureError:
        for path in written:  # a refusal leaves none of the files behind
            path.unlink(missing_ok=True)
        raise
    return written
