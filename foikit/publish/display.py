"""What a template shows: the request, the data fingerprint, each part's tables and the suppression log."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import yaml
from IPython.display import HTML, Image, Markdown, display

from foikit.cube.tables import TOTAL
from foikit.publish.charts import chart_alt, chart_png
from foikit.publish.proof import part_witness_sets, witnesses_record
from foikit.request.params import Request
from foikit.response import PartResult, Response
from foikit.source.data import CaseData


class _BlockDumper(yaml.SafeDumper):
    """Dumps multi-line strings as literal blocks, as a person would write them in params/<ref>.yaml."""


_BlockDumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)
)


# What the record shows from params, data or dictionaries is text, never Markdown or HTML: nbconvert renders raw
# HTML, links (javascript: included) and math inside Markdown outputs, so every such value goes through _md.
_MD_ALWAYS = re.compile(r"[\\`*\[\]$~|#]|(?<=\\)[()]")  # (?<=\\): \( and \) open math for nbconvert
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # an underscore inside a word is never emphasis
# What starts a block at the start of a line: a bullet, a definition, a setext underline or rule, a numbered
# item (which continues a paragraph instead unless it is numbered 1, as CommonMark and mistune have it).
_MD_BLOCK_START = re.compile(r"^(?:[-+](?=\s|$)|:|=+\s*$|-+\s*$)")
_MD_NUMBERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _md(value: object, lines: bool = False, start: bool = False) -> str:
    """``value`` as Markdown that renders to exactly its text: one line (newlines become spaces; ``start``: it
    begins a line, as a list item's text does), or, with ``lines``, its lines stripped (a leading indent would
    start a code block, trailing spaces a line break)."""
    text = str(value)
    rows = [line.strip() for line in text.strip().splitlines()] if lines else [" ".join(text.splitlines()).strip()]
    out = []
    for i, row in enumerate(rows):
        row = _MD_ALWAYS.sub(lambda m: "\\" + m.group(0), row)
        row = _MD_UNDERSCORE.sub(r"\\_", row)
        row = re.sub(r"(?i)(https?):(?=//)", r"\1\\:", row)  # the url plugin links bare addresses
        row = re.sub(r"[&<>]", lambda m: _MD_ENTITIES[m.group(0)], row)
        if lines or start:
            row = _MD_BLOCK_START.sub(lambda m: "\\" + m.group(0), row)
            paragraph_starts = not lines or i == 0 or not rows[i - 1]
            number = _MD_NUMBERED.match(row)
            if number and (paragraph_starts or int(number.group(1)) == 1):
                row = f"{number.group(1)}\\{row[len(number.group(1)):]}"
        out.append(row)
    return "\n".join(out)


def _ticks(text: str, least: int) -> str:
    """A backtick fence longer than any run of backticks in ``text``, so ``text`` cannot close it."""
    return "`" * max(least, max(map(len, re.findall("`+", text)), default=0) + 1)


def _code(value: object) -> str:
    """``value`` as an inline code span (rendered escaped, whatever it holds)."""
    text = " ".join(str(value).splitlines())
    ticks = _ticks(text, 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        text = f" {text} "
    return f"{ticks}{text}{ticks}"


def _fence(text: str, info: str) -> str:
    """``text`` as a fenced code block (highlighted and escaped by nbconvert, never closed early)."""
    ticks = _ticks(text, 3)
    return f"{ticks}{info}\n{text}\n{ticks}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in _md(text, lines=True).splitlines())


def full_table(frame: pd.DataFrame, name: str) -> HTML:
    """Every row and the whole of every value (pandas' notebook view shows 10 rows of a long table and cuts
    long text), escaped, in a box that scrolls when the table is long."""
    table = frame.to_html(escape=True, index=False, border=0, classes="dataframe foikit-full")
    # a box that scrolls is a labelled region a keyboard can reach (WCAG 2.1.1)
    return HTML(f'<div class="foikit-scroll" data-table="{name}" data-rows="{len(frame)}" tabindex="0" '
                f'role="region" aria-label="Table: {name} ({len(frame)} rows)" '
                f'style="max-height:32em;overflow:auto">{table}</div>')


def show_request(request: Request) -> None:
    """The reference, the request as quoted, and every parameter as YAML."""
    lines = [f"**Reference:** {_md(request.ref)}  \n**Title:** {_md(request.title)}", ""]
    if request.request_text:
        lines += [_quote(request.request_text), ""]
    params = yaml.dump(request.model_dump(mode="json"), Dumper=_BlockDumper, sort_keys=False,
                       default_flow_style=None, allow_unicode=True, width=100)
    lines += ["Parameters:", "", _fence(params.rstrip(), "yaml")]
    display(Markdown("\n".join(lines)))


def show_source(data: CaseData) -> None:
    """Where the case data came from and its sha256 fingerprint."""
    d = data.dictionary
    display(Markdown(
        f"**Data:** {_md(data.label)}  \n"
        f"**Rows:** {data.rows:,}  \n"
        f"**sha256:** {_code(data.sha256)}  \n"
        f"**Dictionary:** {_md(d.name)} version {_md(d.version)}"
    ))


def describe_part(part: PartResult) -> str:
    spec, cube = part.spec, part.cube
    where = "; ".join(
        f"{part.data.dictionary.label(c)} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for c, v in spec.filter.items()
    ) or "all rows"
    periods = ", ".join(cube.periods)
    text = (
        f"**Population:** {_md(where)}  \n"
        f"**Periods:** {_md(periods)} ({_md(cube.period_words)}, by {_md(cube.date_column)})  \n"
        f"**Counting unit:** {_md(cube.unit_description)}  \n"
    )
    if cube.rule:
        text += f"**Rule:** {_md(cube.rule)}; it placed {cube.affected:,} units.  \n"
    if cube.query:
        text += f"**Counted where the data lives, by:**\n\n{_fence(cube.query, 'sql')}\n\n"
    return text + f"**Counted:** {cube.n_rows:,}; every table's grand total equals this (reconciled)."


def show_part(part: PartResult) -> None:
    """Each table of a part as published, then its true counts (internal record only)."""
    display(Markdown(f"## {_md(part.spec.title)}\n\n" + (_quote(part.spec.request_text) + "\n\n"
                     if part.spec.request_text else "") + describe_part(part)))
    for table in part.spec.tables:
        display(Markdown(f"### {_md(table.title)}\n\nAs published ({_md(part.cube.unit)}; "
                         f"{TOTAL!r} sums over a dimension):"))
        published = part.published_table(table.name)
        display(published)
        # the alt (as display metadata, which the record's template writes out) states the chart's figures
        display(Image(data=chart_png(published, table.title), format="png",
                      metadata={"alt": chart_alt(published, table.title)}))
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
    policy = response.policy
    if policy.rounding:
        how = policy.record_rounding_note()
    else:
        how = (f"{_code(policy.marker)}: {policy.record_meaning}. "
               f"{_code(policy.secondary_marker)}: {_md(policy.secondary_note)}. Zero is shown as 0. ")
    return how + f"Audit rule ({policy.rule}): {policy.rule_sentence()}."


def show_suppression(response: Response) -> None:
    """The policy, every withheld cell with its derivable range, and the audit verdict."""
    log = suppression_log(response)
    display(Markdown(describe_policy(response)))
    display(full_table(log, "withheld"))
    lines = []
    for part in response.parts:
        s = part.stats
        verdict = "passed" if part.audit.passed else "FAILED"
        lines.append(f"- **{_md(part.spec.name)}**: audit {verdict} ({part.audit.model.kind} model); "
                     f"{s.get('n_primary', 0)} cells with small counts withheld, {s.get('n_secondary', 0)} further "
                     f"cells withheld to protect them, {s.get('n_marker_switched', 0)} small counts shown as "
                     f"{_code(response.policy.secondary_marker)}.")
    overall = "**Audit passed: no small count can be worked out from this response.**" if response.passed \
        else "**Audit FAILED: nothing will be published.**"
    display(Markdown("\n".join([*lines, "", overall])))
    if response.passed:
        show_witnesses(response)


def describe_witnesses(response: Response) -> str:
    """The guarantee witnesses.json carries, in plain words, with its size."""
    policy = response.policy
    rule = policy.protection_rule
    sets = part_witness_sets(response)
    n_w = sum(len(found.witnesses) for found, _ in sets)
    n_c = sum(len(found.covering) for found, _ in sets[:len(response.parts)])
    joint = witnesses_record(response)["joint"]
    together = "".join(
        f" Together with the earlier responses {_md(', '.join(j['refs']))}: " +
        (f"not proved: {_md(j['omitted'])}." if "omitted" in j else
         "witnesses also agree with every figure they published, as published.") for j in joint)
    values = (f"every value {policy.small_range}" if rule.kind == "band" else
              f"two values at least {max(1, int(rule.min_width))} apart")
    return (f"**Proof that can be checked without foikit.** For every withheld figure that could be a small count "
            f"({n_c} of them, every small count among them), `witnesses.json` holds complete tables of whole "
            f"numbers that agree with every figure this response publishes (every total, every marker's band) in "
            f"which that figure takes {values}. So no one can tell which of those values is the true one. The tables "
            f"were found from the published figures alone, so they disclose nothing more; anyone can check them with "
            f"arithmetic: `python -m foikit.proofcheck published.csv witnesses.json`. {n_w} tables prove it."
            f"{together}")


def witness_pair(response: Response) -> tuple[str, pd.DataFrame] | None:
    """For one withheld small count (the first with the primary marker): its table in two witnesses in which it
    takes different values, beside what is published. None when no cell has witnesses."""
    for part, (found, _) in zip(response.parts, part_witness_sets(response)[:len(response.parts)], strict=True):
        cells = part.cells
        chosen = [i for i in found.covering if cells["marker"].iat[i] == response.policy.marker] or list(found.covering)
        if not chosen:
            continue
        i = chosen[0]
        a, b = found.covering[i][0], found.covering[i][-1]
        table = part.table_spec(cells["table"].iat[i])
        rows = np.flatnonzero((cells["table"] == table.name).to_numpy())
        frame = pd.DataFrame({
            "figure": [", ".join(f"{d}={cells[d].iat[j] or TOTAL}" for d in table.dims) + (" ◀" if j == i else "")
                     for j in rows],
            "published": cells["shown"].iloc[rows].to_numpy(),
            f"witness {a}": found.values[a][rows], f"witness {b}": found.values[b][rows]})
        coords = ", ".join(f"{d}={cells[d].iat[i] or TOTAL}" for d in table.dims)
        where = f"{part.spec.name}/{table.name}[{coords}]"
        return where, frame
    return None


def show_witnesses(response: Response) -> None:
    """The guarantee in plain words, and one withheld cell's table in two witnesses side by side."""
    display(Markdown(describe_witnesses(response)))
    pair = witness_pair(response)
    if pair is not None:
        where, frame = pair
        display(Markdown(f"For example, {_code(where)} (marked ◀) in two of the tables: both agree with every "
                         "published figure, yet give it different values."))
        display(full_table(frame, "witnesses"))


def show_ledger(response: Response) -> None:
    """The joint audit with earlier responses: which were combined, what they constrained, what changed."""
    check = response.ledger
    if check is None:
        display(Markdown("No ledger was given (`ledger = None`): this response was audited on its own. "
                         "`foikit run` always audits it together with the earlier reports."))
        return
    lines = [f"Dataset **{_md(check.dataset)}**: {len(check.considered)} earlier responses over it."]
    if check.combined:
        lines.append(f"- Audited together with this one: {_md(', '.join(check.combined))}.")
    for ref, why in check.not_combined.items():
        lines.append(f"- Not combined: {_md(ref)}" + (f" ({_md(why)})" if why else "") + ".")
    if check.unrecorded:
        lines.append("- **NOT checked: this response was not audited against these published reports**, which "
                     "cannot be read as ledger entries and were ignored on the analyst's instruction (`--ignore`):")
        lines += [f"  - {_md(u)}" for u in check.unrecorded]  # a folder name: untrusted
    if check.exposed_before:
        lines.append(f"- {len(check.exposed_before)} small counts can already be worked out from earlier responses "
                     "alone; no new pattern can protect them (not this response's doing; they stay withheld):")
        lines += [f"  - {_md(c, start=True)}" for c in check.exposed_before]
    if check.exposed_without:
        lines.append(f"- Without this check, {len(check.exposed_without)} small counts could be worked out by "
                     "combining this response with earlier ones:")
        lines += [f"  - {_md(c, start=True)}" for c in check.exposed_without]
        lines.append(f"- Constrained by: {_md(', '.join(check.constrained))}; so {len(check.added)} further cells "
                     "are withheld (reason `ledger`):")
        lines += [f"  - {_md(c, start=True)}" for c in check.added]
    elif check.combined:
        lines.append("- Combined with them, this response gives away no small count: nothing further withheld.")
    lines.append("")
    lines.append(f"**Joint audit {'passed' if check.passed else 'FAILED'}.** Earlier figures that today's data no "
                 f"longer gives ({len(check.stale)}) are kept as constraints, widened to include today's count:")
    display(Markdown("\n".join(lines)))
    if len(check.stale):
        display(full_table(check.stale, "changed"))
