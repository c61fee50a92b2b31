"""What a template shows: the request, the data fingerprint, each part's tables and the suppression log."""

from __future__ import annotations

import pandas as pd
import yaml
from IPython.display import Markdown, display

from foikit.params import Request
from foikit.response import PartResult, Response
from foikit.sources import CaseData
from foikit.tables import TOTAL


class _BlockDumper(yaml.SafeDumper):
    """Dumps multi-line strings as literal blocks, as a person would write them in params/<ref>.yaml."""


_BlockDumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)
)


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


def show_request(request: Request) -> None:
    """The reference, the request as quoted, and every parameter as YAML."""
    lines = [f"**Reference:** {request.ref}  \n**Title:** {request.title}", ""]
    if request.request_text:
        lines += [_quote(request.request_text), ""]
    params = yaml.dump(request.model_dump(mode="json"), Dumper=_BlockDumper, sort_keys=False,
                       default_flow_style=None, allow_unicode=True, width=100)
    lines += ["Parameters:", "", "```yaml", params.rstrip(), "```"]
    display(Markdown("\n".join(lines)))


def show_source(data: CaseData) -> None:
    """Where the case data came from and its sha256 fingerprint."""
    d = data.dictionary
    display(Markdown(
        f"**Data:** {data.label}  \n"
        f"**Rows:** {len(data.frame):,}  \n"
        f"**sha256:** `{data.sha256}`  \n"
        f"**Dictionary:** {d.name} version {d.version}"
    ))


def describe_part(part: PartResult) -> str:
    spec, cube = part.spec, part.cube
    where = "; ".join(
        f"{part.data.dictionary.label(c)} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for c, v in spec.filter.items()
    ) or "all rows"
    return (
        f"**Population:** {where}  \n"
        f"**Years:** {', '.join(map(str, spec.years))} (calendar years, by {cube.date_column})  \n"
        f"**Counting unit:** {cube.unit_description}  \n"
        f"**Rows counted:** {cube.n_rows:,}; every table's grand total equals this (reconciled)."
    )


def show_part(part: PartResult, marker_note: str = "") -> None:
    """Each table of a part as published, then its true counts (internal record only)."""
    display(Markdown(f"## {part.spec.title}\n\n" + (_quote(part.spec.request_text) + "\n\n"
                     if part.spec.request_text else "") + describe_part(part)))
    for table in part.spec.tables:
        display(Markdown(f"### {table.title}\n\nAs published ({part.cube.unit}; "
                         f"{TOTAL!r} sums over a dimension{marker_note}):"))
        display(part.published_table(table.name))
        display(Markdown("True counts (internal record, not for publication):"))
        display(part.true_table(table.name))


def suppression_log(response: Response) -> pd.DataFrame:
    """Every withheld cell: part, table, coordinates, true value, marker and why."""
    rows = []
    for part in response.parts:
        hidden = part.cells.loc[part.cells["hidden"]]
        for _, cell in hidden.iterrows():
            table = part.table_spec(cell["table"])
            coords = ", ".join(f"{d}={cell[d] or TOTAL}" for d in table.dims)
            rows.append({"part": part.spec.name, "table": table.name, "cell": coords,
                         "true value": int(cell["value"]), "marker": cell["marker"], "reason": cell["reason"]})
    return pd.DataFrame(rows, columns=["part", "table", "cell", "true value", "marker", "reason"])


def show_suppression(response: Response) -> None:
    policy = response.request.suppression
    log = suppression_log(response)
    display(Markdown(
        f"Rule: a count from 1 to {policy.threshold - 1} is withheld as `{policy.marker}`; 0 is shown. "
        f"{len(log)} cells withheld (internal record: the true values are not published)."
    ))
    display(log)

