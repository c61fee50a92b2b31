"""The other tools of the benchmark: pytauargus (tau-ARGUS on HiGHS) and acro, run on a part's tables.

Each adapter takes one :class:`Part` (its case rows, categories, tables and foikit's long-form cells) and
returns what the tool would publish, as a pattern over foikit's cells: which published cells are withheld,
and the band an intruder reads from each withheld cell's marker. The benchmark then runs foikit's own
disclosure audit on that pattern.

How the markers are modelled (the same for every tool, foikit included):

* a withheld cell whose true count is small (1..4) and that the tool flagged as primary/unsafe carries the
  FOI primary marker "[xx]", which declares ``[1, 4]``;
* every other withheld cell (the tool's secondary suppressions, margins it does not publish) carries an
  uninformative marker, ``[0, inf)``;
* the "one marker" variant gives every withheld cell ``[0, inf)``, as when a tool's own output masks every
  suppressed cell with the same symbol (tau-ARGUS's ``x``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from foikit.sdc.linear import LinearModel

INF = np.inf
MARGIN = "Total"


@dataclass
class Part:
    """One benchmark response part: what every tool is given, and foikit's model of what is published."""

    name: str
    rows: pd.DataFrame                       # one row per counted case, a column per dim ('' -> Not recorded)
    categories: dict[str, tuple[str, ...]]
    tables: dict[str, tuple[str, ...]]      # table -> dims (rows then columns)
    table_rows: dict[str, tuple[str, ...]]
    table_cols: dict[str, tuple[str, ...]]
    cells: pd.DataFrame                      # table, <dims> ('' = total), value
    keys: list[tuple[str, tuple[str | None, ...]]]  # per cell: (table, coord per table dim, None = total)
    model: LinearModel
    values: np.ndarray
    sensitive: np.ndarray
    threshold: int


@dataclass
class ToolRun:
    """A tool's published pattern over foikit's cells, and how long the tool took."""

    tool: str
    seconds: float
    hidden: np.ndarray
    primary: np.ndarray           # withheld and flagged primary/small by the tool (-> "[xx]" band)
    notes: list[str] = field(default_factory=list)
    rounds: int = 1

    def bands(self, part: Part, one_marker: bool = False) -> tuple[np.ndarray, np.ndarray]:
        lo = np.zeros(len(self.hidden))
        hi = np.full(len(self.hidden), INF)
        if not one_marker:
            xx = self.hidden & self.primary
            lo[xx], hi[xx] = 1.0, float(part.threshold - 1)
        return lo, hi


def _small(values: np.ndarray, threshold: int) -> np.ndarray:
    return (values >= 1) & (values < threshold)


class ToolCrash(RuntimeError):
    """The tool's process died (the native tau-ARGUS engine can crash) or raised."""


def isolated(fn, *args, timeout: float = 120.0):
    """``fn(*args)`` in a forked child process, so that a crash of native code is a result, not the end.

    pytauargus asks for independent jobs in separate processes (its native solver keeps process-global
    state); the child's own timing is what is reported, not the fork.
    """
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", fn(*args)))
        except BaseException as exc:
            send.send(("error", f"{type(exc).__name__}: {exc}"))

    proc = ctx.Process(target=child)
    proc.start()
    send.close()
    try:
        kind, value = recv.recv() if recv.poll(timeout) else ("error", f"no answer in {timeout:g} s")
    except EOFError:
        kind, value = "crash", None
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if kind == "ok":
        return value
    if kind == "crash":
        code = proc.exitcode
        raise ToolCrash(f"process died with signal {-code}" if code and code < 0 else f"exit code {code}")
    raise ToolCrash(value)


# ---------------------------------------------------------------------------
# pytauargus
# ---------------------------------------------------------------------------
def _codes(part: Part) -> dict[str, dict[str, str]]:
    """Short fixed-width codes per category: tau-ARGUS microdata is fixed-width text."""
    return {d: {c: f"{i + 1:02d}" for i, c in enumerate(cats)} for d, cats in part.categories.items()}


def tau_argus_isolated(part: Part, method: str) -> ToolRun:
    """:func:`tau_argus` in a child process and a scratch directory that is removed even after a crash."""
    work = tempfile.mkdtemp(prefix="bench_tau_")
    try:
        return isolated(tau_argus, part, method, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tau_argus(part: Part, method: str = "OPT", workdir: str | None = None, safety_rule: str | None = None,
              cost: str = "-2", max_rounds: int = 20, mark: str = "U") -> ToolRun:
    """Protect the part's tables with pytauargus' OPT or MOD secondary suppression.

    The microdata (one record per case, response ``n`` = 1, categories as two-digit codes) go through
    pytauargus' own generators (``micro_asc_rda``, ``micro_arb``) and its headless batch engine
    (``run_batch``): one ``<SPECIFYTABLE>`` per foikit table, the frequency rule ``FREQ(threshold,10)``
    (counts 1..4 unsafe, as foikit's rule), unit cost (``-2``: each suppressed cell costs 1, like foikit's
    "cells" cost), ``OPT(n,1)`` or ``MOD(n,1,1,0,0)`` (one minute per table). The headless engine has no
    linked-table suppression (``SUPPRESS`` on table 0; GH is rejected), so the tables are linked as
    rtauargus' ``tab_multi_manager`` does it: suppress every table; a published quantity withheld in one
    table and shown in another becomes unsafe (apriori status ``U``) in every table; suppress again, until
    no table shows a quantity that another withholds.
    """
    from pytauargus.arb import micro_arb
    from pytauargus.engine import run_batch
    from pytauargus.micro import micro_asc_rda
    from pytauargus.result import TableResult

    safety_rule = safety_rule or f"FREQ({part.threshold},10)"
    if method == "OPT":
        suppress = "OPT(1,1)"
    elif method == "MOD":
        suppress = "MOD(1,1,1,0,0)"
    else:
        raise ValueError(f"unknown tau-ARGUS method {method!r}")
    codes = _codes(part)
    names = list(part.tables)
    dims_of = [list(part.tables[t]) for t in names]
    work = Path(workdir or tempfile.mkdtemp(prefix="bench_tau_"))
    # The native engine writes its logs (HiTaS.log, sdc.lp, ...) into the working directory, and MOD its
    # scratch files next to (not into) a temporary directory: keep both inside ``work``.
    old_tempdir = tempfile.tempdir
    tempfile.tempdir = str(work)
    t0 = time.perf_counter()
    try:
        micro = {d: [codes[d][v] for v in part.rows[d]] for d in part.categories}
        micro["n"] = [1] * len(part.rows)
        asc, rda = str(work / "micro.asc"), str(work / "micro.rda")
        micro_asc_rda(micro, asc_filename=asc, rda_filename=rda)
        # tau-ARGUS cell key of every foikit cell: its codes in the table's dim order, "Total" for a margin.
        tkey = [(names.index(t), tuple(MARGIN if c is None else codes[d][c]
                                       for d, c in zip(part.tables[t], co, strict=True)))
                for t, co in part.keys]
        forced: list[set[tuple[str, ...]]] = [set() for _ in names]   # cells marked secondary a priori
        groups = part.model.groups
        rounds = 0
        while True:
            rounds += 1
            outs = [str(work / f"r{rounds}_t{i + 1}.tab") for i in range(len(names))]
            arb = str(work / f"r{rounds}.arb")
            micro_arb(arb_filename=arb, asc_filename=asc, rda_filename=rda, explanatory_vars=dims_of,
                      response_var="n", cost_var=cost, safety_rules=safety_rule, suppress=suppress,
                      output_names=outs, output_type="5", output_options="SO+")
            if any(forced):
                lines = []
                for i, cells in enumerate(forced):
                    if not cells:
                        continue
                    hst = work / f"r{rounds}_t{i + 1}.hst"
                    hst.write_text("".join(";".join(k) + f";{mark}\n" for k in sorted(cells)), encoding="utf-8")
                    lines.append(f'<APRIORI> "{hst}",{i + 1},";",0,0')
                text = Path(arb).read_text(encoding="utf-8").replace(
                    "<READMICRODATA>\n", "<READMICRODATA>\n" + "\n".join(lines) + "\n", 1)
                Path(arb).write_text(text, encoding="utf-8")
            with contextlib.redirect_stdout(None), contextlib.chdir(work):
                run_batch(arb)
            status: list[dict[tuple[str, ...], str]] = []
            for i, t in enumerate(names):
                res = TableResult(path=outs[i], exp_vars=list(part.tables[t]), response="n")
                status.append({tuple(r[d] for d in part.tables[t]): r["status"] for r in res.rows})
            st = [status[i].get(k, "E") for i, k in tkey]
            hidden = np.array([s in ("U", "M") for s in st])
            primary = np.array([s == "U" for s in st])
            ghid = np.zeros(part.model.n_groups, bool)
            np.logical_or.at(ghid, groups, hidden)
            clash = ghid[groups] & ~hidden
            if not clash.any() or rounds >= max_rounds:
                break
            for i in np.flatnonzero(clash):
                forced[tkey[i][0]].add(tkey[i][1])
        seconds = time.perf_counter() - t0
    finally:
        tempfile.tempdir = old_tempdir
        shutil.rmtree(work, ignore_errors=True)
    notes = []
    if clash.any():
        notes.append(f"tables still inconsistent after {rounds} rounds")
    empty = np.array([s == "E" for s in st])
    if (part.values[empty] != 0).any():
        notes.append("cells missing from tau-ARGUS output are not all zero")
    forced_cells = np.array([k in forced[i] for i, k in tkey])
    mism = int(((primary & ~forced_cells & ~part.sensitive) | (part.sensitive & ~primary)).sum())
    if mism:
        notes.append(f"{mism} cells where tau-ARGUS' primary status differs from foikit's 1..4 rule")
    return ToolRun(tool=f"pytauargus {method}", seconds=seconds, hidden=hidden,
                   primary=primary & _small(part.values, part.threshold), notes=notes, rounds=rounds)


# ---------------------------------------------------------------------------
# acro
# ---------------------------------------------------------------------------
def _acro_session(threshold: int):
    import acro
    from acro import sdcchecks

    with contextlib.redirect_stdout(None):
        session = acro.ACRO(suppress=True)
    for name in ("acro", "acro:records", "acro:summary", "acro.ontology_handler"):
        logging.getLogger(name).setLevel(logging.ERROR)   # acro logs every table at INFO
    # The FOI rule: counts 1..threshold-1 are small, and a zero is published as 0.
    session.config.update(safe_threshold=threshold, zeros_are_disclosive=False)
    session.sdc_checks = sdcchecks.SDCChecks(session.config)
    return session


def _locate(frame: pd.DataFrame, row: tuple, col: tuple):
    """The entry of a crosstab at (row, col) keys, None standing for the margin; None if absent."""
    def key(index: pd.Index, k: tuple):
        if all(c is None for c in k):
            return next(x for x in index if (x[0] if isinstance(x, tuple) else x) == MARGIN)
        return k if isinstance(index, pd.MultiIndex) else k[0]
    try:
        return frame.loc[key(frame.index, row), key(frame.columns, col)]
    except (KeyError, StopIteration):
        return None


def acro_tables(part: Part) -> ToolRun:
    """Run each table through acro's ``crosstab`` with suppression (threshold ``part.threshold``, margins).

    acro does no secondary suppression: it drops the records of each cell below the threshold and
    recomputes the table, so a withheld cell shows 0 and the margins of its row and column are the sums of
    what is left. A published cell is modelled as withheld when acro shows a value other than its true
    count (the recomputed margin is a different quantity: the sum of the visible cells, which tells an
    intruder nothing new) or when acro flags it and its count is not 0; withheld small counts carry
    "[xx]" = [1, 4], the rest [0, inf).
    """
    session = _acro_session(part.threshold)
    frame = part.rows.copy()
    for d, cats in part.categories.items():
        frame[d] = pd.Categorical(frame[d], categories=list(cats))
    frame["_all"] = "n"
    shown = np.full(len(part.keys), np.nan)
    flagged = np.zeros(len(part.keys), bool)
    seconds = 0.0
    by_table: dict[str, list[int]] = {}
    for i, (t, _) in enumerate(part.keys):
        by_table.setdefault(t, []).append(i)
    for t, idx in by_table.items():
        rows = list(part.table_rows[t]) or list(part.table_cols[t])
        cols = list(part.table_cols[t]) if part.table_rows[t] else ["_all"]
        t0 = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            table = session.crosstab([frame[r] for r in rows], [frame[c] for c in cols],
                                     margins=True, margins_name=MARGIN)
        seconds += time.perf_counter() - t0
        outcome = session.results.get_index(len(session.results.results) - 1).outcome
        dims = part.tables[t]
        for i in idx:
            co = dict(zip(dims, part.keys[i][1], strict=True))
            rk = tuple(co[r] for r in rows)
            ck = tuple(co[c] for c in cols) if part.table_rows[t] else (None,)   # "_all": the margin
            v = _locate(table, rk, ck)   # a category the published table leaves out shows no count
            shown[i] = 0.0 if v is None or pd.isna(v) else float(v)
            flag = _locate(outcome, rk, ck)
            flagged[i] = flag is not None and str(flag).strip() != "ok"
    values = part.values.astype(float)
    hidden = (shown != values) | (flagged & (values > 0))
    primary = hidden & flagged & _small(part.values, part.threshold)
    notes = []
    visible_small = part.sensitive & ~hidden
    if visible_small.any():
        notes.append(f"{int(visible_small.sum())} small counts published as they are")
    return ToolRun(tool="acro", seconds=seconds, hidden=hidden, primary=primary, notes=notes)

