"""What a template shows: the request, the data fingerprint, each part's tables and the suppression log."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import yaml
from IPython.display import Image, Markdown, display

from foikit.charts import chart_png
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
        f"**Rows:** {data.rows:,}  \n"
        f"**sha256:** `{data.sha256}`  \n"
        f"**Dictionary:** {d.name} version {d.version}"
    ))


def describe_part(part: PartResult) -> str:
    spec, cube = part.spec, part.cube
    where = "; ".join(
        f"{part.data.dictionary.label(c)} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for c, v in spec.filter.items()
    ) or "all rows"
    periods = ", ".join(cube.periods)
    text = (
        f"**Population:** {where}  \n"
        f"**Periods:** {periods} ({cube.period_words}, by {cube.date_column})  \n"
        f"**Counting unit:** {cube.unit_description}  \n"
    )
    if cube.rule:
        text += f"**Rule:** {cube.rule}; it placed {cube.affected:,} units.  \n"
    if cube.query:
        text += f"**Counted where the data lives, by:**\n\n```sql\n{cube.query}\n```\n\n"
    return text + f"**Counted:** {cube.n_rows:,}; every table's grand total equals this (reconciled)."


def show_part(part: PartResult) -> None:
    """Each table of a part as published, then its true counts (internal record only)."""
    display(Markdown(f"## {part.spec.title}\n\n" + (_quote(part.spec.request_text) + "\n\n"
                     if part.spec.request_text else "") + describe_part(part)))
    for table in part.spec.tables:
        display(Markdown(f"### {table.title}\n\nAs published ({part.cube.unit}; "
                         f"{TOTAL!r} sums over a dimension):"))
        published = part.published_table(table.name)
        display(published)
        display(Image(data=chart_png(published, table.title), format="png"))
        display(Markdown("True counts (internal record, not for publication):"))
        display(part.true_table(table.name))


def _range(lower: float, upper: float) -> str:
    def fmt(v: float) -> str:
        return "unbounded" if np.isinf(v) else str(int(v))
    return f"{fmt(lower)} to {fmt(upper)}"


def suppression_log(response: Response) -> pd.DataFrame:
    """Every withheld cell: part, table, coordinates, true value, marker, why, and the range an intruder
    can derive for it from everything the response publishes."""
    rows = []
    for part in response.parts:
        passed = part.audit.cell_passed
        for i in np.flatnonzero(part.cells["hidden"].to_numpy()):
            cell = part.cells.iloc[i]
            table = part.table_spec(cell["table"])
            coords = ", ".join(f"{d}={cell[d] or TOTAL}" for d in table.dims)
            rows.append({"part": part.spec.name, "table": table.name, "cell": coords,
                         "true value": int(cell["value"]), "marker": cell["marker"], "reason": cell["reason"],
                         "derivable range": _range(cell["lower"], cell["upper"]),
                         "protected": "yes" if passed[i] else "NO"})
    return pd.DataFrame(rows, columns=["part", "table", "cell", "true value", "marker", "reason",
                                       "derivable range", "protected"])


def describe_policy(response: Response) -> str:
    policy = response.request.suppression
    t = policy.threshold
    rule = {
        "band": f"for every count from 1 to {t - 1}, the range an intruder can work out from everything "
                f"this response publishes (every table, total and marker) still includes every value from "
                f"1 to {t - 1}",
        "not_exact": f"no count from 1 to {t - 1} can be worked out exactly from what this response publishes",
        "min_width": f"for every count from 1 to {t - 1}, the range an intruder can work out is at least "
                     f"{policy.min_width:g} wide",
    }[policy.effective_rule]
    if policy.rounding:
        how = (f"Every figure is rounded to the nearest {policy.rounding.base}, totals independently. ")
    else:
        how = (f"`{policy.marker}`: a count from 1 to {t - 1}, withheld as personal data. "
               f"`{policy.secondary.marker}`: {policy.secondary.note}. Zero is shown as 0. ")
    return how + f"Audit rule ({policy.effective_rule}): {rule}."


def show_suppression(response: Response) -> None:
    """The policy, every withheld cell with its derivable range, and the audit verdict."""
    log = suppression_log(response)
    display(Markdown(describe_policy(response)))
    display(log)
    lines = []
    for part in response.parts:
        s = part.stats
        verdict = "passed" if part.audit.passed else "FAILED"
        lines.append(f"- **{part.spec.name}**: audit {verdict} ({part.audit.model.kind} model); "
                     f"{s.get('n_primary', 0)} cells with small counts withheld, {s.get('n_secondary', 0)} further "
                     f"cells withheld to protect them, {s.get('n_marker_switched', 0)} small counts shown as "
                     f"`{response.request.suppression.secondary.marker}`.")
    overall = "**Audit passed: no small count can be worked out from this response.**" if response.passed \
        else "**Audit FAILED: nothing will be published.**"
    display(Markdown("\n".join([*lines, "", overall])))


def show_ledger(response: Response) -> None:
    """The joint audit with earlier responses: which were combined, what they constrained, what changed."""
    check = response.ledger
    if check is None:
        display(Markdown("No ledger was given (`ledger = None`): this response was audited on its own. "
                         "`foikit run` always audits it together with the earlier reports."))
        return
    lines = [f"Dataset **{check.dataset}**: {len(check.considered)} earlier responses over it."]
    if check.combined:
        lines.append(f"- Audited together with this one: {', '.join(check.combined)}.")
    for ref, why in check.not_combined.items():
        lines.append(f"- Not combined: {ref}" + (f" ({why})" if why else "") + ".")
    if check.unrecorded:
        lines.append("- **NOT checked: this response was not audited against these published reports**, which "
                     "cannot be read as ledger entries and were ignored on the analyst's instruction (`--ignore`):")
        lines += [f"  - {html.escape(u)}" for u in check.unrecorded]  # a folder name: untrusted
    if check.exposed_before:
        lines.append(f"- {len(check.exposed_before)} small counts can already be worked out from earlier responses "
                     "alone; no new pattern can protect them (not this response's doing; they stay withheld):")
        lines += [f"  - {c}" for c in check.exposed_before]
    if check.exposed_without:
        lines.append(f"- Without this check, {len(check.exposed_without)} small counts could be worked out by "
                     "combining this response with earlier ones:")
        lines += [f"  - {c}" for c in check.exposed_without]
        lines.append(f"- Constrained by: {', '.join(check.constrained)}; so {len(check.added)} further cells "
                     "are withheld (reason `ledger`):")
        lines += [f"  - {c}" for c in check.added]
    elif check.combined:
        lines.append("- Combined with them, this response gives away no small count: nothing further withheld.")
    lines.append("")
    lines.append(f"**Joint audit {'passed' if check.passed else 'FAILED'}.** Earlier figures that today's data no "
                 f"longer gives ({len(check.stale)}) are kept as constraints, widened to include today's count:")
    display(Markdown("\n".join(lines)))
    if len(check.stale):
        display(check.stale)
