"""Secondary cell suppression across all tables of one response part.

Sensitive cells start hidden with the primary marker ("[xx]", declaring
``[1, threshold-1]``).  :func:`protect` then chooses extra cells to hide (whole
groups: one published quantity is hidden everywhere it appears) until the
:mod:`foikit.sdc.audit` passes, minimising the cost of what is hidden.

Fast method: per failing sensitive cell, solve the Fischetti-Salazar
single-target protection MILP (two deviation tables, "upper" and "lower",
agreeing with every visible cell and staying in every hidden cell's band,
binaries for which groups to hide and for which sensitive cells swap "[xx]"
for the uninformative "[c]"), hide what it picks, re-audit, repeat; then a
clean-up pass un-hides secondaries (most costly first) and restores "[xx]"
markers while the audit still passes.  Exact method: the joint MILP over all
targets (time-limited), audited and repaired the same way.

Example
-------
>>> from foikit.sdc.linear import build_model
>>> cats = {"r": ["a", "b"], "c": ["m", "f"]}
>>> cells = [("t", {"r": r, "c": c}) for r in ["a", "b", None] for c in ["m", "f", None]]
>>> m = build_model(cats, {"t": ["r", "c"]}, cells)
>>> vals = [18, 2, 20, 14, 19, 33, 32, 21, 53]
>>> p = protect(m, vals, np.array([v in range(1, 5) for v in vals]))
>>> p.markers
['[c]', '[xx]', '', '[c]', '[c]', '', '', '', '']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from foikit.sdc.audit import AuditResult, BoundEngine, CellRange, ProtectionRule, new_highs, pass_lp
from foikit.sdc.linear import LinearModel

__all__ = ["Pattern", "SecondaryPolicy", "UnprotectableError", "protect", "withhold_tables"]


class UnprotectableError(ValueError):
    """No allowed suppression pattern meets the rule; ``cells`` holds the best achievable ranges."""

    def __init__(self, cells: Sequence[CellRange], rule: ProtectionRule, note: str = "") -> None:
        self.cells = list(cells)
        lines = [f"no suppression pattern meets the {rule.kind!r} rule (threshold {rule.threshold})"
                 + (f" {note}" if note else "") + "; best achievable ranges:"]
        lines += [f"  {c}" for c in self.cells]
        lines.append("remedies: merge small categories, publish a coarser table, or withhold the "
                     "table(s) concerned (SecondaryPolicy.withhold_tables)")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class SecondaryPolicy:
    """How :func:`protect` chooses secondary suppressions.

    ``cost``: "cells" (each hidden cell costs 1) or "value" (its value + 1, so
    zeros are not free); totals (cells with a None coordinate) cost
    ``total_factor`` times more.  Replacing a sensitive cell's "[xx]" by "[c]"
    costs ``marker_cost`` (below any cell, as it loses less than hiding one);
    ``allow_marker_switch=False`` forbids it.  ``rule`` defaults to the band
    rule at ``threshold``.

    A request's policy is built by :meth:`foikit.request.policy.Policy.secondary_policy`,
    which sets every field.  The defaults here serve the engine used on its own
    (tests, bench/) and equal the request schema's (``params.Secondary``), so that
    it behaves as a request that says nothing; tests/test_policy.py holds them equal.
    """

    threshold: int = 5
    rule: ProtectionRule | None = None
    method: Literal["fast", "exact"] = "fast"
    cost: Literal["cells", "value"] = "cells"
    total_factor: float = 3.0
    primary_marker: str = "[xx]"
    secondary_marker: str = "[c]"
    allow_marker_switch: bool = True
    marker_cost: float = 1.5
    time_limit: float = 60.0
    cleanup: bool = True
    withhold_tables: tuple[str, ...] = ()

    @property
    def effective_rule(self) -> ProtectionRule:
        return self.rule if self.rule is not None else ProtectionRule(threshold=self.threshold)

    @property
    def primary_band(self) -> tuple[float, float]:
        return 1.0, float(self.threshold - 1)


@dataclass(frozen=True, eq=False)
class Pattern:
    """A suppression pattern: ``hidden`` mask, ``markers`` ("" when visible) and
    ``reasons`` ("primary" / "secondary" / "withheld" / "") per cell, the final
    passing ``audit`` and ``stats``."""

    model: LinearModel
    hidden: np.ndarray
    markers: list[str]
    reasons: list[str]
    band_lo: np.ndarray
    band_hi: np.ndarray
    audit: AuditResult
    stats: dict[str, Any] = field(default_factory=dict)

    def hidden_cells(self) -> list[tuple[int, str, dict[str, str | tuple[str, ...] | None], str, str]]:
        """(index, table, coords, marker, reason) of every hidden cell."""
        return [(int(i), *self.model.cells[i], self.markers[i], self.reasons[i])
                for i in np.flatnonzero(self.hidden)]


# ---------------------------------------------------------------------------
# group-level state
# ---------------------------------------------------------------------------
@dataclass
class _State:
    ghid: np.ndarray      # group hidden
    gc: np.ndarray        # sensitive group carries "[c]" instead of "[xx]"


class _Protector:
    def __init__(self, model: LinearModel, values: np.ndarray, sensitive: np.ndarray,
                 policy: SecondaryPolicy, keep_visible: np.ndarray | None,
                 fixed: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.t0 = time.perf_counter()
        self.model, self.policy = model, policy
        self.rule = policy.effective_rule
        self.values = values
        self.engine = BoundEngine(model, values, milp_time_limit=policy.time_limit)
        m, G = model, model.n_groups
        unknown = set(policy.withhold_tables) - set(m.tables)
        if unknown:
            raise ValueError(f"withhold_tables: unknown tables {sorted(unknown)}")
        self.withheld = np.array([t in policy.withhold_tables for t, _ in m.cells], bool)
        # Fixed cells (an earlier response's, from the ledger) say what they said: a band, never changed.
        self.fixed = np.zeros(m.n_cells, bool) if fixed is None else ~np.isnan(np.asarray(fixed[0], float))
        self.gledger = np.zeros(G, bool)
        self.gledger[m.groups[self.fixed]] = True
        if (self.gledger[m.groups] != self.fixed).any():
            raise ValueError("a fixed cell and a free cell share a group; give them different tags")
        # A group's band is what all its fixed members say together (two versions of a response may publish
        # one quantity twice: '[c]' in one, 9 in the other says 9), as the audit reads them.
        self.glo_fixed = np.zeros(G)
        self.ghi_fixed = np.full(G, np.inf)
        if fixed is not None:
            np.maximum.at(self.glo_fixed, m.groups[self.fixed], np.asarray(fixed[0], float)[self.fixed])
            np.minimum.at(self.ghi_fixed, m.groups[self.fixed], np.asarray(fixed[1], float)[self.fixed])
        self.ghi_fixed[~self.gledger] = 0.0
        pub = ~self.withheld & ~self.fixed
        # A quantity is sensitive wherever it is shown; sensitivity spreads to its group.
        self.gsens = np.zeros(G, bool)
        self.gsens[m.groups[sensitive]] = True
        self.sens_cells = self.gsens[m.groups]
        # Groups with no published member are simply not published.
        self.gpub = np.zeros(G, bool)
        self.gpub[m.groups[pub]] = True
        self.gval = self.engine.gval
        blo, bhi = policy.primary_band
        # Honest markers: "[xx]" only where the value really is in its band.
        self.g_xx_ok = self.gsens & self.gpub & (self.gval >= blo) & (self.gval <= bhi)
        self.gkeep = np.zeros(G, bool)
        if keep_visible is not None:
            kv = np.asarray(keep_visible, bool)
            self.gkeep[m.groups[kv & pub]] = True
            clash = self.gkeep & self.gsens
            if clash.any():
                i = int(np.flatnonzero(self.sens_cells & kv)[0])
                raise ValueError(f"{m.label(i)} is sensitive but must stay visible")
        # Cost of hiding each group: sum over its published cells.
        # "cells": among patterns hiding as many cells, prefer small values (readers miss a hidden 150
        # more than a hidden 6); the value term is at most 0.01 a cell, so it never trades a whole cell.
        unit = (1.0 + 0.01 * values / (1.0 + values.max(initial=0.0)) if policy.cost == "cells"
                else values + 1.0)
        if policy.cost not in ("cells", "value"):
            raise ValueError(f"unknown cost {policy.cost!r}")
        unit = unit * np.where(m.is_total, policy.total_factor, 1.0) * pub
        self.gcost = np.zeros(G)
        np.add.at(self.gcost, m.groups, unit)
        self.gfixed = self.gsens | ~self.gpub   # always hidden
        self.n_sub = 0
        self.sub_optimal = True
        self._fail_order: list[int] = []
        self.owner: dict[int, list[int]] = {}   # secondary group -> targets it was hidden for
        self._subs: dict[bool, _FSModel] = {}
        self._x0: np.ndarray | None = None
        self.last_info: Any = None

    # -- patterns --------------------------------------------------------
    def initial(self) -> _State:
        return _State(ghid=self.gfixed.copy(), gc=~self.g_xx_ok & self.gsens)

    def group_bounds(self, st: _State) -> tuple[np.ndarray, np.ndarray]:
        blo, bhi = self.policy.primary_band
        xx = st.ghid & self.gsens & ~st.gc
        lo = np.where(st.ghid, np.where(xx, blo, 0.0), self.gval)
        hi = np.where(st.ghid, np.where(xx, bhi, np.inf), self.gval)
        return np.where(self.gledger, self.glo_fixed, lo), np.where(self.gledger, self.ghi_fixed, hi)

    def cell_pattern(self, st: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = self.model.groups
        hidden = st.ghid[g] | self.withheld
        lo, hi = self.group_bounds(st)
        return hidden, np.where(hidden, lo[g], 0.0), np.where(hidden, hi[g], np.inf)

    def check(self, st: _State, fail_fast: bool, first: Sequence[int] = ()) -> list[int]:
        """Failing sensitive groups (only the first one found if ``fail_fast``).

        ``first`` and then recent failures are checked first: a clean-up trial
        usually fails on the target the group was hidden for.
        """
        self.engine.set_group_bounds(*self.group_bounds(st))
        order = list(dict.fromkeys([*first, *self._fail_order, *np.flatnonzero(self.gsens).tolist()]))
        failing = []
        for g in order:
            lo, hi, _ = self.engine.group_range(g, self.rule, settle="rule")
            if not self.rule.passes(lo, hi):
                failing.append(g)
                if fail_fast:
                    break
        if failing:
            self._fail_order = failing + [g for g in self._fail_order if g not in failing]
        return failing if fail_fast else sorted(failing)

    def passes_now(self, st: _State, g: int) -> bool:
        self.engine.set_group_bounds(*self.group_bounds(st))
        lo, hi, _ = self.engine.group_range(g, self.rule, settle="rule")
        return bool(self.rule.passes(lo, hi))

    def max_state(self) -> _State:
        gc = self.gsens & (~self.g_xx_ok | self.policy.allow_marker_switch)
        return _State(ghid=~self.gkeep | self.gfixed, gc=gc)

    def cost(self, st: _State) -> float:
        sec = st.ghid & ~self.gfixed
        switched = st.gc & self.g_xx_ok
        return float(self.gcost[sec].sum() + self.policy.marker_cost * switched.sum())

    # -- subproblems -----------------------------------------------------
    def solve_sub(self, targets: Sequence[int], st: _State, integer_x: bool
                  ) -> tuple[np.ndarray, np.ndarray] | None:
        """Protection MILP for ``targets``: tight big-M first, loose if that is infeasible."""
        # The joint (exact) problem uses the loose cap only, so that it is not
        # restricted to small moves of every hidden quantity.
        attempts: list[tuple[bool, np.ndarray | None]] = (
            [(True, None), (False, None)] if len(targets) == 1 else [(False, None)])
        if len(targets) == 1 and not integer_x:
            free = self.local_vars(targets[0])
            if free is not None:
                attempts.insert(0, (True, free))
        for tight, free in attempts:
            if tight not in self._subs:
                self._subs[tight] = _FSModel(self, tight)
            sol = self._subs[tight].solve(targets, st, integer_x, self.policy.time_limit,
                                          free, self.base_table() if free is not None else None)
            if sol is not None:
                self.last_info = self._subs[tight].last_info
                return sol
        return None

    def base_table(self) -> np.ndarray:
        """Some consistent table (any x >= 0 with E x = 0 reproducing every published value)."""
        if self._x0 is None:
            m = self.model
            A_eq = sp.vstack([m.E, self.engine.R], format="csr").astype(float)
            b_eq = np.concatenate([np.zeros(m.E.shape[0]), self.gval])
            r = linprog(np.zeros(m.n_vars), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
            if r.status != 0:
                raise ValueError("published values are inconsistent: no table reproduces them")
            self._x0 = r.x
        return self._x0

    def local_vars(self, t: int) -> np.ndarray | None:
        """The variables of the maximal table holding target ``t``.

        Searching for a pattern inside the target's own table first (other
        tables held fixed, hence their shared margins too) is several times
        faster, and usually optimal: hiding a shared margin means hiding it in
        every table.  None when there is only one table.
        """
        m = self.model
        if len(m.blocks) < 2:
            return None
        first = int(self.engine.R.indices[self.engine.R.indptr[t]])
        free = np.zeros(m.n_vars, bool)
        for b in m.blocks:
            if b.offset <= first < b.offset + b.size:
                free[b.offset:b.offset + b.size] = True
        return free

    def unprotectable(self, note: str = "") -> UnprotectableError:
        st = self.max_state()
        hidden, lo, hi = self.cell_pattern(st)
        res = self.engine.run_audit(hidden, lo, hi, self.sens_cells, self.rule, bound_all=False)
        cells = res.failures()
        if not cells:
            return UnprotectableError([], self.rule, note or "(solver limit)")
        return UnprotectableError(cells, self.rule, note)

    def fallback(self, stats: dict[str, Any]) -> _State:
        """Everything hidable hidden, "[c]" wherever allowed; the clean-up pass then thins it out."""
        st = self.max_state()
        if self.check(st, fail_fast=True):
            raise self.unprotectable()
        stats["fallback_max_pattern"] = True
        return st

    def repair(self, st: _State, stats: dict[str, Any]) -> _State:
        """Add suppressions until every sensitive group passes (fast method)."""
        integer_x = False
        while True:
            stats["sweeps"] += 1
            failing = self.check(st, fail_fast=False)
            if not failing:
                return st
            changed = False
            for t in failing:
                if changed and self.passes_now(st, t):
                    continue
                sol = self.solve_sub([t], st, integer_x)
                if sol is None:
                    # Infeasible (or no incumbent in time): if even hiding
                    # everything fails, say so; else thin out the maximal pattern.
                    return self.fallback(stats)
                ghid, gc = sol
                new_h = ghid & ~st.ghid
                if new_h.any() or (gc & ~st.gc).any():
                    for g in np.flatnonzero(new_h).tolist():
                        self.owner.setdefault(g, []).append(t)
                    st = _State(ghid=st.ghid | ghid, gc=st.gc | gc)
                    changed = True
            if not changed:
                if not integer_x:
                    # LP deviations exist but no integer ones: demand integer tables.
                    integer_x = True
                    stats["integer_subproblems"] = True
                    continue
                return self.fallback(stats)

    def clean(self, st: _State, stats: dict[str, Any]) -> _State:
        """Un-hide secondaries (most costly first), then restore "[xx]" markers, while the audit passes."""
        sec = np.flatnonzero(st.ghid & ~self.gfixed)
        for g in sorted(sec.tolist(), key=lambda g: (-self.gcost[g], g)):
            trial = _State(ghid=st.ghid.copy(), gc=st.gc)
            trial.ghid[g] = False
            stats["cleanup_trials"] += 1
            if not self.check(trial, fail_fast=True, first=self.owner.get(g, ())):
                st = trial
                stats["cleanup_removed"] += 1
        for g in np.flatnonzero(st.gc & self.g_xx_ok).tolist():
            trial = _State(ghid=st.ghid, gc=st.gc.copy())
            trial.gc[g] = False
            stats["cleanup_trials"] += 1
            if not self.check(trial, fail_fast=True, first=[g]):
                st = trial
        return st


class _FSModel:
    """Fischetti-Salazar protection MILP for a set of targets, sharing the hide/marker binaries.

    Columns: per target two deviation tables ``x_up``, ``x_down`` (n each),
    then ``z`` (hide group) and ``k`` (sensitive group shows "[c]").  For a
    visible group the table must reproduce its value; hiding lets it move in
    ``[0, value + U]``; a sensitive group stays in the primary band unless it
    carries "[c]".
    """

    def __init__(self, p: _Protector, tight: bool = True) -> None:
        self.p = p
        eng = p.engine
        m = p.model
        G, n = m.n_groups, m.n_vars
        a = p.gval
        R = eng.R.astype(float)
        E = m.E.astype(float)
        S = np.flatnonzero(p.gsens & ~p.gledger)
        N = np.flatnonzero(~p.gsens & ~p.gledger)
        D = N[a[N] > 0]           # for a zero cell "not below 0" is implied by x >= 0
        L = np.flatnonzero(p.gledger)  # fixed cells keep their band in every deviation table
        blo, bhi = p.policy.primary_band
        # Big-M: how far a hidden quantity may move.  Loose: no cell of a
        # consistent table exceeds the largest published quantity (the grand
        # total when shown) by much.  Tight: moves of the size the target must
        # move (a few units), which gives a far stronger LP relaxation; a
        # smallest deviation pattern rarely needs more.  Either cap only limits
        # the search (what it finds is a real deviation, and is audited), and
        # an infeasible tight problem is retried loose.
        loose = float(max(a.max(initial=0.0), 1.0)) + p.rule.threshold
        U = float(max(p.rule.threshold, p.rule.min_width)) if tight else loose
        down = np.minimum(a, U)

        def sel(idx: np.ndarray, coef: np.ndarray | float) -> sp.csr_matrix:
            coef = np.broadcast_to(np.asarray(coef, float), idx.shape)
            return sp.csr_matrix((coef, (np.arange(len(idx)), idx)), shape=(len(idx), G))

        nE = E.shape[0]
        zero = sp.csr_matrix
        self.X = sp.vstack([E, R[D], R[N], R[S], R[S], R[L]], format="csr")
        self.Z = sp.vstack([zero((nE, G)), sel(D, down[D]), sel(N, -U), zero((2 * len(S) + len(L), G))],
                           format="csr")
        self.K = sp.vstack([zero((nE + len(D) + len(N), G)), sel(S, blo), sel(S, -loose), zero((len(L), G))],
                           format="csr")
        self.rlo = np.concatenate([np.zeros(nE), a[D], np.full(len(N), -np.inf),
                                   np.full(len(S), blo), np.full(len(S), -np.inf), p.glo_fixed[L]])
        self.rhi = np.concatenate([np.zeros(nE), np.full(len(D), np.inf), a[N],
                                   np.full(len(S), np.inf), np.full(len(S), bhi), p.ghi_fixed[L]])
        self.R, self.n, self.G = R, n, G

    def solve(self, targets: Sequence[int], st: _State, integer_x: bool, time_limit: float,
              free: np.ndarray | None = None, x0: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray] | None:
        """Cheapest (hidden, "[c]") groups protecting ``targets`` given ``st``; None if infeasible.

        With ``free`` (a variable mask) the deviation tables may differ from
        the consistent table ``x0`` only on those variables: rows that do not
        touch them drop out, which makes a local problem much smaller.
        """
        p, G = self.p, self.G
        X, Zb, Kb, brlo, brhi, R = self.X, self.Z, self.K, self.rlo, self.rhi, self.R
        if free is not None:
            assert x0 is not None
            Xf = X[:, free]
            keep = np.diff(Xf.indptr) > 0
            shift = X[:, ~free] @ x0[~free]
            X, Zb, Kb = Xf[keep], Zb[keep], Kb[keep]
            brlo, brhi = (brlo - shift)[keep], (brhi - shift)[keep]
            R = R[:, free]
        n = X.shape[1]
        K = len(targets)
        rule = p.rule
        blocks: list[list[sp.spmatrix | None]] = []
        for j in range(2 * K):
            row: list[sp.spmatrix | None] = [None] * (2 * K)
            row[j] = X
            blocks.append([*row, Zb, Kb])
        rlo: list[Any] = [np.tile(brlo, 2 * K)]
        rhi: list[Any] = [np.tile(brhi, 2 * K)]
        # Target rows: the upper table reaches the top of the band / the lower
        # table its bottom (band rule), or they are ``width`` apart.
        for k, t in enumerate(targets):
            rt = R[t]
            if rule.kind == "band":
                for j, (lo, hi) in ((2 * k, (rule.threshold - 1, np.inf)), (2 * k + 1, (-np.inf, 1.0))):
                    row = [None] * (2 * K) + [sp.csr_matrix((1, G)), sp.csr_matrix((1, G))]
                    row[j] = rt
                    blocks.append(row)
                    rlo.append([lo])
                    rhi.append([hi])
            else:
                row = [None] * (2 * K) + [sp.csr_matrix((1, G)), sp.csr_matrix((1, G))]
                row[2 * k], row[2 * k + 1] = rt, -rt
                blocks.append(row)
                rlo.append([rule.min_width])
                rhi.append([np.inf])
        for j in range(2 * K):
            if blocks[j][j] is None:  # pragma: no cover - bmat needs a block per column
                blocks[j][j] = X
        M = sp.bmat(blocks, format="csc")
        nx = 2 * K * n
        col_lo = np.zeros(nx + 2 * G)
        col_hi = np.concatenate([np.full(nx, np.inf), np.ones(2 * G)])
        # A tiny rising perturbation breaks ties towards lower group (cell) index.
        tie = 1e-4 * np.arange(1, G + 1) / G
        cost = np.concatenate([np.zeros(nx), p.gcost + tie, np.full(G, p.policy.marker_cost) + tie])
        z_lo, z_hi = col_lo[nx:nx + G], col_hi[nx:nx + G]
        k_lo, k_hi = col_lo[nx + G:], col_hi[nx + G:]
        hid = st.ghid
        z_lo[hid & ~p.gsens] = 1.0
        z_hi[p.gkeep | p.gsens] = 0.0   # sensitive groups have no z rows
        cost[nx:nx + G][hid] = 0.0
        k_hi[~p.gsens | p.gledger] = 0.0
        k_lo[st.gc & ~p.gledger] = 1.0
        cost[nx + G:][st.gc] = 0.0
        if not p.policy.allow_marker_switch:
            k_hi[p.g_xx_ok & ~st.gc] = 0.0
        integrality = np.concatenate([np.full(nx, integer_x), np.ones(2 * G, bool)])
        h = new_highs(time_limit=time_limit, mip_rel_gap=1e-9, mip_abs_gap=1e-6, presolve="on")
        pass_lp(h, M, col_lo, col_hi, np.concatenate(rlo), np.concatenate(rhi), cost, integrality)
        h.run()
        p.n_sub += 1
        status = h.getModelStatus()
        sol = h.getSolution()
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            p.sub_optimal = False
            if not sol.value_valid:
                return None
        x = np.asarray(sol.col_value)
        self.last_info = h.getInfo()
        return x[nx:nx + G] > 0.5, (x[nx + G:] > 0.5) & p.gsens


def protect(model: LinearModel, values: Sequence[int] | np.ndarray, sensitive: np.ndarray,
            policy: SecondaryPolicy = SecondaryPolicy(), *,
            keep_visible: np.ndarray | None = None,
            fixed: tuple[np.ndarray, np.ndarray] | None = None) -> Pattern:
    """Choose secondary suppressions so that the audit passes, at least cost.

    ``sensitive`` marks the cells the rule protects; they start hidden with
    ``policy.primary_marker``.  ``keep_visible`` marks cells that must stay
    published.  ``fixed = (lo, hi)`` gives cells already published elsewhere
    (NaN for the others) the band they are known to lie in: they are never
    changed, cost nothing, and a sensitive one is protected like any other.
    Raises :class:`UnprotectableError` when no allowed pattern works.
    Deterministic: same input, same pattern.

    >>> from foikit.sdc.linear import build_model
    >>> m = build_model({"r": ["a", "b", "c"]}, {"t": ["r"]},
    ...                 [("t", {"r": r}) for r in ["a", "b", "c", None]])
    >>> p = protect(m, [3, 9, 7, 19], np.array([True, False, False, False]))
    >>> p.markers, p.reasons[1], p.audit.passed
    (['[xx]', '[c]', '', ''], 'secondary', True)
    """
    if not policy.allow_marker_switch or not np.asarray(sensitive, bool).any():
        return _protect(model, values, sensitive, policy, keep_visible, fixed)
    # '[xx]' says what a small count is; a small count shown as '[c]' only where no pattern with an honest
    # '[xx]' on every small count exists within the stated cost: ``marker_cost`` per switched count (the
    # optimiser weighs it too, but the fast method is a heuristic: the honest pattern is also searched for)
    switched = _protect(model, values, sensitive, policy, keep_visible, fixed)
    n = int(switched.stats["n_marker_switched"])
    if n == 0:
        switched.stats["marker_switch"] = f"none: every small count is shown as '{policy.primary_marker}'"
        return switched
    try:
        honest = _protect(model, values, sensitive, replace(policy, allow_marker_switch=False), keep_visible, fixed)
    except UnprotectableError:
        switched.stats["marker_switch"] = (
            f"{n} small counts shown as '{policy.secondary_marker}': no pattern with '{policy.primary_marker}' on "
            "every small count protects them all")
        return switched
    extra = float(honest.stats["cost"]) - float(switched.stats["cost"]) + policy.marker_cost * n
    if extra <= policy.marker_cost * n + 1e-9:
        honest.stats["n_marker_switch_avoided"] = n  # what the optimiser alone would have switched
        honest.stats["marker_switch"] = f"none: every small count is shown as '{policy.primary_marker}'" + (
            f" (a pattern switching {n} of them would withhold {extra:g} less, within the cost of "
            f"{policy.marker_cost:g} per switched count)" if extra > 1e-9 else "")
        return honest
    switched.stats["marker_switch"] = (
        f"{n} small counts shown as '{policy.secondary_marker}': every pattern found with '{policy.primary_marker}' "
        f"on every small count withholds {extra:g} more (cost), beyond {policy.marker_cost:g} per switched count")
    return switched


def _protect(model: LinearModel, values: Sequence[int] | np.ndarray, sensitive: np.ndarray,
             policy: SecondaryPolicy, keep_visible: np.ndarray | None,
             fixed: tuple[np.ndarray, np.ndarray] | None) -> Pattern:
    t0 = time.perf_counter()
    values = np.asarray(values, dtype=float)
    sensitive = np.asarray(sensitive, bool)
    if sensitive.shape != (model.n_cells,):
        raise ValueError(f"expected {model.n_cells} sensitive flags, got shape {sensitive.shape}")
    if policy.method not in ("fast", "exact"):
        raise ValueError(f"unknown method {policy.method!r}")
    p = _Protector(model, values, sensitive, policy, keep_visible, fixed)
    stats: dict[str, Any] = {"method": policy.method, "sweeps": 0, "cleanup_trials": 0,
                             "cleanup_removed": 0}
    st = p.initial()
    if policy.method == "exact" and p.gsens.any():
        targets = np.flatnonzero(p.gsens).tolist()
        sol = p.solve_sub(targets, st, False)
        if sol is None:
            # infeasible, or no incumbent within the time limit: let the fast
            # method find a pattern (or prove none exists)
            stats["optimal"] = False
        else:
            st = _State(ghid=st.ghid | sol[0], gc=st.gc | sol[1])
            stats["optimal"] = p.sub_optimal
            stats["mip_gap"] = float(p.last_info.mip_gap)
            stats["exact_cost"] = p.cost(st)
    st = p.repair(st, stats)
    if policy.cleanup and (policy.method == "fast" or not stats.get("optimal", False)
                           or stats["sweeps"] > 1):
        st = p.clean(st, stats)
    if policy.method == "exact" and not stats.get("optimal", False):
        # A time-limited joint MILP can end worse than the fast heuristic.
        fast = p.repair(p.initial(), stats)
        fast = p.clean(fast, stats) if policy.cleanup else fast
        if p.cost(fast) < p.cost(st):
            st = fast
            stats["used_fast_result"] = True
    hidden, lo, hi = p.cell_pattern(st)
    # ranges of every hidden cell, except cells fixed by an earlier response (not this pattern's to report)
    res = p.engine.run_audit(hidden, lo, hi, p.sens_cells, p.rule, bound_all=fixed is None, settle="sensitive",
                             also=hidden & ~p.fixed)
    if not res.passed:  # pragma: no cover - repair() guarantees this
        raise RuntimeError("internal error: protected pattern fails the audit\n" + res.report())
    g = model.groups
    markers, reasons = [], []
    for i in range(model.n_cells):
        if not hidden[i] or p.fixed[i]:
            markers.append("")
            reasons.append("fixed" if p.fixed[i] else "")
        elif p.withheld[i]:
            markers.append(policy.secondary_marker)
            reasons.append("withheld")
        elif p.gsens[g[i]]:
            markers.append(policy.secondary_marker if st.gc[g[i]] else policy.primary_marker)
            reasons.append("primary")
        else:
            markers.append(policy.secondary_marker)
            reasons.append("secondary")
    sec = np.array([r == "secondary" for r in reasons])
    stats.update({
        "n_primary": int(sum(r == "primary" for r in reasons)),
        "n_secondary": int(sec.sum()),
        "n_marker_switched": int((st.gc & p.g_xx_ok).sum()),
        "cost": p.cost(st),
        "hidden_value": float(values[hidden & ~p.withheld & ~p.fixed].sum()),
        "secondary_value": float(values[sec].sum()),
        "subproblems": p.n_sub,
        "lp_solves": p.engine.n_lp,
        "milp_solves": p.engine.n_milp,
        "model_kind": model.kind,
        "seconds": time.perf_counter() - t0,
    })
    return Pattern(model, hidden, markers, reasons, lo, hi, res, stats)


def withhold_tables(model: LinearModel, values: Sequence[int] | np.ndarray, sensitive: np.ndarray,
                    policy: SecondaryPolicy, tables: Sequence[str]) -> Pattern:
    """:func:`protect` with whole ``tables`` withheld (not published; cells marked "withheld")."""
    return protect(model, values, sensitive,
                   replace(policy, withhold_tables=tuple(policy.withhold_tables) + tuple(tables)))

