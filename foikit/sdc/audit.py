"""Disclosure audit: what can an intruder derive about each hidden cell?

The intruder knows every visible cell, that cube counts are non-negative
integers, the structural equalities ``E @ x == 0`` and the band each marker
declares on a hidden cell ("[xx]" = ``[1, threshold-1]``, "[c]" = ``[0, inf)``).
For each hidden cell we compute the smallest and largest value consistent with
all that: two LPs per distinct published quantity on one warm-started HiGHS
model (only the objective changes), settled by a MILP where the LP optimum is
fractional and the answer matters.

Example
-------
>>> from foikit.sdc.linear import build_model
>>> m = build_model({"r": ["a", "b"]}, {"t": ["r"]},
...                 [("t", {"r": "a"}), ("t", {"r": "b"}), ("t", {"r": None})])
>>> res = audit(m, [2, 2, 4], hidden=np.array([True, True, False]),
...             band_lo=np.array([1, 1, 0]), band_hi=np.array([4, 4, np.inf]),
...             sensitive=np.array([True, True, False]), rule=ProtectionRule())
>>> res.passed, res.lower.tolist(), res.upper.tolist()
(False, [1.0, 1.0, nan], [3.0, 3.0, nan])
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import highspy
import numpy as np
import scipy.sparse as sp

from foikit.sdc.linear import LinearModel

__all__ = ["AuditResult", "BoundEngine", "CellRange", "ProtectionRule", "audit"]

INF = highspy.kHighsInf
_INT_TOL = 1e-6
_POOL = 256  # witnesses kept (the latest), re-checked against each new pattern
_banner_done = False


def new_highs(**options: Any) -> highspy.Highs:
    """A silent HiGHS instance (the version banner goes to stdout once per process)."""
    global _banner_done
    if not _banner_done:
        # HiGHS prints its banner from C++ on first construction, before any
        # option can silence it; it would pollute CLI output.
        fd = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(fd, 1)
            os.close(fd)
        _banner_done = True
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for k, v in options.items():
        h.setOptionValue(k, v)
    return h


def pass_lp(h: highspy.Highs, M: sp.spmatrix, col_lo: np.ndarray, col_hi: np.ndarray,
            row_lo: np.ndarray, row_hi: np.ndarray, cost: np.ndarray | None = None,
            integrality: np.ndarray | None = None) -> None:
    """Load ``row_lo <= M @ x <= row_hi, col_lo <= x <= col_hi`` into ``h``."""
    C = sp.csc_matrix(M, dtype=np.float64)
    C.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = C.shape[1], C.shape[0]
    lp.col_cost_ = np.zeros(C.shape[1]) if cost is None else np.asarray(cost, float)
    lp.col_lower_ = np.asarray(col_lo, float)
    lp.col_upper_ = np.where(np.isinf(col_hi), INF, col_hi).astype(float)
    lp.row_lower_ = np.where(np.isinf(row_lo), -INF, row_lo).astype(float)
    lp.row_upper_ = np.where(np.isinf(row_hi), INF, row_hi).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = C.shape[1], C.shape[0]
    lp.a_matrix_.start_ = C.indptr.astype(np.int32)
    lp.a_matrix_.index_ = C.indices.astype(np.int32)
    lp.a_matrix_.value_ = C.data
    if integrality is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in integrality]
    h.passModel(lp)


@dataclass(frozen=True)
class ProtectionRule:
    """What a sensitive cell's derivable range ``[lower, upper]`` must satisfy.

    * ``"band"`` (default): ``lower <= 1`` and ``upper >= threshold - 1`` (the
      whole primary band stays possible, whatever marker the cell carries);
    * ``"not_exact"``: ``lower < upper`` (sdcTable's rule);
    * ``"min_width"``: ``upper - lower >= width``.
    """

    kind: Literal["band", "not_exact", "min_width"] = "band"
    threshold: int = 5
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("band", "not_exact", "min_width"):
            raise ValueError(f"unknown rule kind {self.kind!r}")
        if self.threshold < 2:
            raise ValueError("threshold must be at least 2")

    @property
    def min_width(self) -> float:
        return {"band": 0.0, "not_exact": 1.0, "min_width": float(self.width)}[self.kind]

    def passes(self, lower: np.ndarray | float, upper: np.ndarray | float) -> np.ndarray:
        """Vectorised rule check on integer ranges."""
        lower, upper = np.asarray(lower, float), np.asarray(upper, float)
        if self.kind == "band":
            return (lower <= 1) & (upper >= self.threshold - 1)
        return (upper - lower) >= self.min_width

    def bands(self) -> tuple[float, float]:
        """The primary marker band ``[1, threshold - 1]``."""
        return 1.0, float(self.threshold - 1)


class CellRange(NamedTuple):
    index: int  # type: ignore[assignment]  # the cell's row in the model (shadows tuple.index)
    table: str
    coords: dict[str, str | tuple[str, ...] | None]
    lower: float
    upper: float

    def __str__(self) -> str:
        rng = f"[{_fmt(self.lower)}, {_fmt(self.upper)}]"
        return f"{self.table}{_fmt_coords(self.coords)}: derivable range {rng}"


def _fmt(v: float) -> str:
    return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else str(int(v)) if v == int(v) else f"{v:g}")


def _fmt_coords(coords: dict[str, str | tuple[str, ...] | None]) -> str:
    return "[" + ", ".join(f"{d}={'Total' if c is None else c}" for d, c in coords.items()) + "]"


@dataclass(frozen=True, eq=False)
class AuditResult:
    """Outcome of :func:`audit`.

    ``lower``/``upper`` are the derivable integer range per cell (NaN for
    visible cells); ``exact`` says the bound is a proven integer optimum (not
    just a rounded LP bound); ``cell_passed`` is False only for sensitive cells
    that break the rule.
    """

    model: LinearModel
    lower: np.ndarray
    upper: np.ndarray
    exact: np.ndarray
    cell_passed: np.ndarray
    hidden: np.ndarray
    sensitive: np.ndarray
    rule: ProtectionRule
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.cell_passed.all())

    def failures(self) -> list[CellRange]:
        """Failing sensitive cells with their derivable ranges (visible ones: the value itself is known)."""
        out = []
        for i in np.flatnonzero(~self.cell_passed):
            t, co = self.model.cells[i]
            out.append(CellRange(int(i), t, dict(co), float(self.lower[i]), float(self.upper[i])))
        return out

    def ranges(self) -> list[CellRange]:
        """Every hidden cell with its derivable range."""
        return [CellRange(int(i), *self.model.cells[i], float(self.lower[i]), float(self.upper[i]))
                for i in np.flatnonzero(self.hidden)]

    def report(self) -> str:
        fails = self.failures()
        head = (f"audit {'passed' if self.passed else 'FAILED'}: {int(self.hidden.sum())} hidden cells, "
                f"{int(self.sensitive.sum())} sensitive, {len(fails)} failing (rule {self.rule.kind}, "
                f"threshold {self.rule.threshold})")
        return "\n".join([head, *(f"  {f}" for f in fails)])


class BoundEngine:
    """Reusable bound computation for one model and one set of true values.

    Holds one HiGHS LP (rows: ``E`` and one row per group) whose row bounds
    encode the current pattern; solving for another cell only changes the
    objective, so HiGHS warm-starts from the previous basis.  A second,
    integer model is created lazily for fractional optima.
    """

    def __init__(self, model: LinearModel, values: Sequence[int] | np.ndarray,
                 milp_time_limit: float = 30.0) -> None:
        self.model = model
        vals = np.asarray(values, dtype=float)
        if vals.shape != (model.n_cells,):
            raise ValueError(f"expected {model.n_cells} values, got shape {vals.shape}")
        if np.any(vals < 0) or np.any(vals != np.round(vals)):
            raise ValueError("cell values must be non-negative integers")
        self.values = vals
        G = model.n_groups
        gval = np.full(G, np.nan)
        for i, g in enumerate(model.groups):
            if np.isnan(gval[g]):
                gval[g] = vals[i]
            elif gval[g] != vals[i]:
                raise ValueError(f"cells {model.label(i)} and an identical quantity have different values")
        self.gval = gval
        self.R = model.group_rows().tocsr()
        self.R.sort_indices()
        self.n_e = model.E.shape[0]
        M = sp.vstack([model.E, self.R], format="csc")
        self._M = M
        n = model.n_vars
        self.lo = gval.copy()
        self.hi = gval.copy()
        self._lp = new_highs(presolve="off")
        pass_lp(self._lp, M, np.zeros(n), np.full(n, np.inf),
                np.concatenate([np.zeros(self.n_e), self.lo]), np.concatenate([np.zeros(self.n_e), self.hi]))
        self._lp_bounds = (self.lo.copy(), self.hi.copy())
        self._milp: highspy.Highs | None = None
        self._milp_bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._milp_time_limit = milp_time_limit
        self._cost_idx: dict[int, np.ndarray] = {}
        self.n_lp = 0
        self.n_milp = 0
        # Witnesses (only when ``collect_witnesses``): integer points met along the way, kept as their group
        # values; ``_wlo``/``_whi`` the least and greatest value of each group over those valid now.
        self.collect_witnesses = False
        self._memo: dict[tuple[int, int, str], tuple[float, bool]] = {}  # bounds under the current pattern
        self._pool: list[np.ndarray] = []
        self._wlo = np.full(G, np.inf)
        self._whi = np.full(G, -np.inf)
        self.n_witnessed = 0

    # -- pattern -----------------------------------------------------------
    def group_pattern(self, hidden: np.ndarray, band_lo: np.ndarray, band_hi: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-cell pattern -> per-group (hidden, lo, hi); one visible member reveals the group."""
        m = self.model
        hidden = np.asarray(hidden, bool)
        blo = np.where(hidden, np.asarray(band_lo, float), -np.inf)
        bhi = np.where(hidden, np.asarray(band_hi, float), np.inf)
        bad = hidden & ((self.values < blo) | (self.values > bhi))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{m.label(i)}: true value outside the band its marker declares")
        G = m.n_groups
        ghid = np.ones(G, bool)
        np.logical_and.at(ghid, m.groups, hidden)
        glo = np.full(G, -np.inf)
        ghi = np.full(G, np.inf)
        np.maximum.at(glo, m.groups, blo)
        np.minimum.at(ghi, m.groups, bhi)
        glo = np.maximum(glo, 0.0)  # counts are non-negative anyway
        return ghid, np.where(ghid, glo, self.gval), np.where(ghid, ghi, self.gval)

    def set_group_bounds(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Set what is known about each group: ``lo == hi == value`` if visible, its band if hidden."""
        self.lo = np.asarray(lo, float).copy()
        self.hi = np.asarray(hi, float).copy()
        changed = np.any(self._lp_bounds[0] != self.lo) or np.any(self._lp_bounds[1] != self.hi)
        self._sync(self._lp, "_lp_bounds")
        if changed:
            self._memo.clear()
        self._wlo[:], self._whi[:] = np.inf, -np.inf
        for gv in self._pool:  # a witness of another pattern counts only if it keeps within this one
            self._admit(gv)

    # -- witnesses ---------------------------------------------------------
    def _admit(self, gv: np.ndarray) -> None:
        if np.all(gv >= self.lo) and np.all(gv <= self.hi):
            np.minimum(self._wlo, gv, out=self._wlo)
            np.maximum(self._whi, gv, out=self._whi)

    def _witness(self, x: np.ndarray | None) -> None:
        """Keep ``x`` if it is an integer point of the model (non-negative, ``E x = 0``): checked here in
        exact integer arithmetic, whatever the solver claims, so that a witness is never wrong."""
        if not self.collect_witnesses or x is None:
            return
        xr = np.round(x)
        if np.any(np.abs(x - xr) > _INT_TOL) or np.any(xr < 0):
            return
        xi = xr.astype(np.int64)
        if self.n_e and np.any(self.model.E @ xi != 0):
            return
        gv = (self.R @ xi).astype(float)
        self._pool = [*self._pool[-(_POOL - 1):], gv]
        self._admit(gv)

    def witnessed(self, g: int, rule: ProtectionRule) -> bool:
        """Whether integer points consistent with the current pattern already show that group ``g`` passes
        ``rule``: its integer range holds every value they give it, and the rule only asks the range to be
        wide enough (a wider range never fails where a narrower one passes)."""
        return bool(self._wlo[g] <= self._whi[g] and rule.passes(self._wlo[g], self._whi[g]))

    def witness_range(self, g: int) -> tuple[float, float]:
        """The least and greatest value of group ``g`` over the witnesses valid now (inside its range)."""
        return float(self._wlo[g]), float(self._whi[g])

    def _prove(self, g: int, rule: ProtectionRule) -> tuple[float, float] | None:
        """A verdict on group ``g`` without both its bounds, where one suffices: (lower, upper) that pass
        ``rule`` from witnesses, or that fail it from its rounded LP lower bound alone (the integer minimum
        is at least that: under "band" a minimum above 1 fails whatever the maximum; NaN stands for the
        bound not computed). None: bound it in full."""
        if self.witnessed(g, rule):
            self.n_witnessed += 1
            return self.witness_range(g)
        if rule.kind != "band":
            return None
        lo, _ = self.bound(g, +1, settle=False)
        if lo > 1:
            return lo, math.nan
        if self.witnessed(g, rule):  # the minimising vertex may be the witness still missing
            self.n_witnessed += 1
            return self.witness_range(g)
        return None

    def seek_witnesses(self, groups: np.ndarray, rule: ProtectionRule, rounds: int = 4) -> None:
        """A few LPs whose objective pulls many groups at once to the ends the rule asks of them (the sum of
        those still missing a low witness, then minus the sum of those missing a high one); each integral
        vertex is a witness for every group it takes far enough. Where a group can grow without bound the
        maximising LP is unbounded and gives nothing: those are left to their own LPs."""
        lo_end, hi_end = rule.bands() if rule.kind == "band" else (-np.inf, np.inf)
        for _ in range(rounds):
            progress = False
            for sign in (+1.0, -1.0):
                need = [g for g in groups if not self.witnessed(int(g), rule)
                        and (self._wlo[g] > lo_end if sign > 0 else self._whi[g] < hi_end)]
                if not need:
                    continue
                before = int(sum(self.witnessed(int(g), rule) for g in need))
                cost = sign * np.asarray(self.R[need].sum(axis=0), float).ravel()
                self._set_cost(self._lp, 0, np.flatnonzero(cost), cost[cost != 0])
                status, _, x = self._solve(self._lp)
                self.n_lp += 1
                if status != "unbounded":
                    self._witness(x)
                progress |= int(sum(self.witnessed(int(g), rule) for g in need)) > before
            if not progress:
                return

    def _sync(self, h: highspy.Highs, attr: str) -> None:
        old = getattr(self, attr)
        if old is None:
            return
        changed = np.flatnonzero((old[0] != self.lo) | (old[1] != self.hi))
        if len(changed):
            h.changeRowsBounds(  # type: ignore[attr-defined]  # in highspy, not in its stubs
                len(changed), (changed + self.n_e).astype(np.int32),
                               np.where(np.isinf(self.lo[changed]), -INF, self.lo[changed]),
                               np.where(np.isinf(self.hi[changed]), INF, self.hi[changed]))
        setattr(self, attr, (self.lo.copy(), self.hi.copy()))

    # -- bounds ------------------------------------------------------------
    def _set_objective(self, h: highspy.Highs, key: int, g: int, sign: float) -> None:
        lo, hi = self.R.indptr[g], self.R.indptr[g + 1]
        self._set_cost(h, key, self.R.indices[lo:hi], sign * self.R.data[lo:hi].astype(float))

    def _set_cost(self, h: highspy.Highs, key: int, idx: np.ndarray, cost: np.ndarray) -> None:
        prev = self._cost_idx.get(key)
        if prev is not None and len(prev):
            h.changeColsCost(len(prev), prev.astype(np.int32), np.zeros(len(prev)))
        h.changeColsCost(len(idx), idx.astype(np.int32), cost)
        self._cost_idx[key] = idx

    def _solve(self, h: highspy.Highs) -> tuple[str, float, np.ndarray | None]:
        h.run()
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kOptimal:
            return "optimal", h.getInfo().objective_function_value, np.asarray(h.getSolution().col_value)
        if st in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "unbounded", -INF, None
        if st == highspy.HighsModelStatus.kInfeasible:
            raise ValueError("published values and marker bands are inconsistent (infeasible audit model)")
        if st == highspy.HighsModelStatus.kTimeLimit and h.getSolution().value_valid:
            return "timelimit", h.getInfo().objective_function_value, np.asarray(h.getSolution().col_value)
        raise RuntimeError(f"HiGHS failed: {h.modelStatusToString(st)}")

    def lp_bound(self, g: int, sense: int) -> tuple[float, bool]:
        """LP optimum of group ``g`` (``sense`` +1 min, -1 max) and whether the vertex is integral."""
        self._set_objective(self._lp, 0, g, float(sense))
        status, obj, x = self._solve(self._lp)
        self.n_lp += 1
        if status == "unbounded":
            return (math.inf if sense < 0 else -math.inf), True
        assert x is not None  # an optimal solve has a vertex
        integral = bool(np.all(np.abs(x - np.round(x)) <= _INT_TOL))
        if integral:
            self._witness(x)
        return sense * obj, integral

    def binding_groups(self, g: int, sense: int) -> np.ndarray:
        """Groups whose known value or band limits the LP bound of group ``g`` (non-zero duals): which
        published figures an intruder's best derivation of ``g`` uses."""
        self.lp_bound(g, sense)
        sol = self._lp.getSolution()
        if not sol.dual_valid:
            return np.zeros(0, dtype=np.int64)
        duals = np.asarray(sol.row_dual)[self.n_e:]
        return np.flatnonzero(np.abs(duals) > 1e-9)

    def milp_bound(self, g: int, sense: int) -> tuple[float, bool]:
        """Integer optimum of group ``g``; returns (value, proven).

        On a time-out we return the best *achievable* value found (a feasible
        integer table), so a pass is still certified.
        """
        key = (g, sense, "milp")
        if self.collect_witnesses and key in self._memo:  # the same pattern asked again: the same optimum
            return self._memo[key]
        self._memo[key] = out = self._milp_bound(g, sense)
        return out

    def _milp_bound(self, g: int, sense: int) -> tuple[float, bool]:
        if self._milp is None:
            self._milp = new_highs(time_limit=self._milp_time_limit, mip_rel_gap=0.0, mip_abs_gap=0.5)
            n = self.model.n_vars
            pass_lp(self._milp, self._M, np.zeros(n), np.full(n, np.inf),
                    np.concatenate([np.zeros(self.n_e), self.lo]),
                    np.concatenate([np.zeros(self.n_e), self.hi]),
                    integrality=np.ones(n, bool))
            self._milp_bounds = (self.lo.copy(), self.hi.copy())
        self._sync(self._milp, "_milp_bounds")
        self._set_objective(self._milp, 1, g, float(sense))
        status, obj, x = self._solve(self._milp)
        self.n_milp += 1
        self._witness(x)
        if status == "unbounded":
            return (math.inf if sense < 0 else -math.inf), True
        return float(round(sense * obj)), status == "optimal"

    def bound(self, g: int, sense: int, settle: bool = True) -> tuple[float, bool]:
        """Integer bound of group ``g``: LP, rounded; settled by MILP if fractional and ``settle``."""
        key = (g, sense, "settled" if settle else "lp")
        if self.collect_witnesses and key in self._memo:
            return self._memo[key]
        if self.collect_witnesses and settle and (g, sense, "lp") in self._memo:
            # this pattern's LP bound is known: integral, it is the integer optimum; else settle it by MILP
            value, exact = self._memo[(g, sense, "lp")]
            self._memo[key] = out = (value, True) if exact else self.milp_bound(g, sense)
            return out
        self._memo[key] = out = self._bound(g, sense, settle)
        return out

    def _bound(self, g: int, sense: int, settle: bool) -> tuple[float, bool]:
        if self.lo[g] == self.hi[g]:
            return self.lo[g], True
        v, integral = self.lp_bound(g, sense)
        if math.isinf(v):
            return v, True
        if integral:
            return float(round(v)), True
        if settle:
            return self.milp_bound(g, sense)
        return (math.ceil(v - _INT_TOL) if sense > 0 else math.floor(v + _INT_TOL)), False

    def group_range(self, g: int, rule: ProtectionRule | None, settle: str = "rule"
                    ) -> tuple[float, float, bool]:
        """Integer range of group ``g``.

        ``settle``: "all" always settles fractional optima by MILP; "rule" only
        where the rounded LP range would pass ``rule`` (the integer range is
        inside it, so a rounded failure is a real failure); "none" never.
        """
        lo, ex_lo = self.bound(g, +1, settle=settle == "all")
        hi, ex_hi = self.bound(g, -1, settle=settle == "all")
        if settle == "rule" and rule is not None and not (ex_lo and ex_hi) and rule.passes(lo, hi):
            if not ex_lo:
                lo, ex_lo = self.milp_bound(g, +1)
            if not ex_hi:
                hi, ex_hi = self.milp_bound(g, -1)
        return lo, hi, ex_lo and ex_hi

    def run_audit(self, hidden: np.ndarray, band_lo: np.ndarray, band_hi: np.ndarray,
                  sensitive: np.ndarray, rule: ProtectionRule, *, bound_all: bool = True,
                  settle: str = "sensitive", also: np.ndarray | None = None,
                  prove: np.ndarray | None = None) -> AuditResult:
        """Full audit of a per-cell pattern (see :func:`audit`).

        ``settle``: "all" (every bound an integer optimum), "sensitive" (only
        sensitive cells') or "rule" (sensitive cells', only where it decides
        the rule).  ``bound_all=False`` skips non-sensitive hidden cells except
        those marked in ``also``.

        ``prove``: sensitive cells of which only the verdict is wanted. A group all of whose cells are in it
        passes without its own LPs when witnesses (integer points consistent with the pattern, from the
        other solves and a few LPs that pull all of them at once) show its range wide enough; its
        ``lower``/``upper`` are then the least and greatest value the witnesses give it (inside its range,
        not its ends; ``exact`` False). The verdict is the same as bounding it: a range that holds values
        passing the rule passes it. A group the witnesses do not settle is bounded as any other.
        """
        t0 = time.perf_counter()
        lp0, milp0 = self.n_lp, self.n_milp
        m = self.model
        hidden = np.asarray(hidden, bool)
        sensitive = np.asarray(sensitive, bool)
        ghid, glo, ghi = self.group_pattern(hidden, band_lo, band_hi)
        self.set_group_bounds(glo, ghi)
        gsens = np.zeros(m.n_groups, bool)
        gsens[m.groups[sensitive]] = True
        lower = np.full(m.n_cells, np.nan)
        upper = np.full(m.n_cells, np.nan)
        exact = np.ones(m.n_cells, bool)
        wanted = gsens.copy()
        if also is not None:
            wanted[m.groups[np.asarray(also, bool)]] = True
        gprove = np.zeros(m.n_groups, bool)
        if prove is not None:
            gprove[:] = True
            np.logical_and.at(gprove, m.groups, np.asarray(prove, bool) & sensitive)
            gprove &= ghid & gsens & (bound_all is False)  # bound_all asks for every range
        if gprove.any():
            self.collect_witnesses = True
            self.seek_witnesses(np.flatnonzero(gprove), rule)
        for g in np.flatnonzero(ghid if bound_all else ghid & wanted):
            members = m.groups == g
            if gprove[g]:
                verdict = self._prove(int(g), rule)
                if verdict is not None:
                    lower[members], upper[members], exact[members] = *verdict, False
                    continue
            if settle == "all" or (settle == "sensitive" and gsens[g]):
                mode = "all"
            else:
                mode = "rule" if (settle == "rule" and gsens[g]) else "none"
            lo, hi, ex = self.group_range(int(g), rule if gsens[g] else None, settle=mode)
            lower[members], upper[members], exact[members] = lo, hi, ex
        # Cells hidden but revealed by a visible twin are known exactly.
        twin = hidden & ~ghid[m.groups]
        lower[twin] = upper[twin] = self.values[twin]
        cell_passed = np.ones(m.n_cells, bool)
        sl = sensitive & hidden & ghid[m.groups]
        cell_passed[sl] = rule.passes(lower[sl], upper[sl])
        cell_passed[sensitive & ~(hidden & ghid[m.groups])] = False
        stats = {"lp_solves": self.n_lp - lp0, "milp_solves": self.n_milp - milp0,
                 "seconds": time.perf_counter() - t0}
        return AuditResult(m, lower, upper, exact, cell_passed, hidden.copy(), sensitive.copy(), rule, stats)


def audit(model: LinearModel, values: Sequence[int] | np.ndarray, hidden: np.ndarray,
          band_lo: np.ndarray, band_hi: np.ndarray, sensitive: np.ndarray,
          rule: ProtectionRule = ProtectionRule(), *, exact_all: bool = False) -> AuditResult:
    """Derivable range of every hidden cell, and whether every sensitive cell is protected.

    ``band_lo``/``band_hi`` give what each hidden cell's marker declares
    (``[1, threshold-1]`` for "[xx]", ``[0, inf)`` for "[c]").  Bounds of
    sensitive cells are exact integer optima; those of other hidden cells are
    rounded LP bounds unless ``exact_all`` (``AuditResult.exact`` tells which).

    >>> from foikit.sdc.linear import build_model
    >>> m = build_model({"r": ["a", "b", "c"]}, {"t": ["r"]},
    ...                 [("t", {"r": "a"}), ("t", {"r": "b"}), ("t", {"r": "c"}), ("t", {"r": None})])
    >>> r = audit(m, [2, 9, 7, 18], hidden=np.array([1, 1, 0, 0], bool),
    ...           band_lo=np.array([1, 0, 0, 0]), band_hi=np.array([4, np.inf, np.inf, np.inf]),
    ...           sensitive=np.array([1, 0, 0, 0], bool))
    >>> r.passed, r.lower[:2].tolist(), r.upper[:2].tolist()
    (True, [1.0, 7.0], [4.0, 10.0])
    """
    engine = BoundEngine(model, values)
    return engine.run_audit(hidden, band_lo, band_hi, sensitive, rule,
                            settle="all" if exact_all else "sensitive")
