"""Witnesses: whole tables, consistent with everything published, in which a withheld count takes a value.

The audit says no withheld small count can be narrowed below the rule; a witness lets anyone check it with
arithmetic alone. For a withheld cell and a value the rule requires it to be able to take (every integer of
the primary band under "band"; two values ``width`` apart under "not_exact" and "min_width"), a witness is a
non-negative integer assignment of the model's variables (the maximal tables' inner cells, or the cube's)
that reproduces every published figure, keeps every withheld cell within its marker's band, and gives that
cell that value. Witnesses are found from the published figures only (bounds ``lo``/``hi`` per cell), by a
feasibility MILP whose objective pulls every still-uncovered cell towards the value wanted, so that one
solve covers many (cell, value) pairs.

Example
-------
>>> from foikit.sdc.linear import build_model
>>> m = build_model({"r": ["a", "b"]}, {"t": ["r"]},
...                 [("t", {"r": "a"}), ("t", {"r": "b"}), ("t", {"r": None})])
>>> w = find_witnesses(m, np.array([0, 0, 5.]), np.array([np.inf, np.inf, 5.]), np.array([1, 1, 0], bool),
...                    ProtectionRule(threshold=5))
>>> sorted(int(w.values[k][0]) for k in w.covering[0])
[1, 2, 3, 4]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from foikit.sdc.audit import ProtectionRule, new_highs, pass_lp
from foikit.sdc.linear import LinearModel

__all__ = ["WitnessSet", "find_witnesses"]

_MAX_NODES = 20_000  # a work limit, not a time limit: the same input gives the same witnesses


@dataclass(frozen=True, eq=False)
class WitnessSet:
    """``values[k]`` is witness ``k`` over the model's variables; ``covering[i]`` the witnesses that prove
    cell ``i`` can take every value the rule requires (only for the cells in it: those that can)."""

    witnesses: list[np.ndarray]
    values: list[np.ndarray]  # per witness, every published cell's value in it
    covering: dict[int, list[int]]
    stats: dict = field(default_factory=dict)


class _Solver:
    """One MILP: x integer >= 0, E x = 0, each group within its bounds, and per candidate group k a
    deviation d_k >= |R_k x - target_k| whose cost is 1 for the cells being pulled towards their target."""

    def __init__(self, model: LinearModel, glo: np.ndarray, ghi: np.ndarray, cand: np.ndarray) -> None:
        R = model.group_rows().tocsr()
        n, K = model.n_vars, len(cand)
        self.n, self.n_e, self.G, self.K = n, model.E.shape[0], R.shape[0], K
        Rk = R[cand]
        eye = sp.identity(K, format="csr")
        M = sp.vstack([sp.hstack([model.E, sp.csr_matrix((self.n_e, K))]),
                       sp.hstack([R, sp.csr_matrix((self.G, K))]),
                       sp.hstack([Rk, -eye]), sp.hstack([Rk, eye])], format="csc")
        self.glo, self.ghi = glo.astype(float), ghi.astype(float)
        self.h = new_highs(mip_rel_gap=0.2, mip_max_nodes=_MAX_NODES, presolve="on")
        zeros = np.zeros(K)
        pass_lp(self.h, M, np.zeros(n + K), np.full(n + K, np.inf),
                np.concatenate([np.zeros(self.n_e), self.glo, np.full(K, -np.inf), zeros]),
                np.concatenate([np.zeros(self.n_e), self.ghi, zeros, np.full(K, np.inf)]),
                integrality=np.concatenate([np.ones(n, bool), np.zeros(K, bool)]))
        self.R = R
        self.n_solves = 0

    def _rows(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.h.changeRowsBounds(len(idx), idx.astype(np.int32),  # type: ignore[attr-defined]
                                np.where(np.isinf(lo), -highspy.kHighsInf, lo),
                                np.where(np.isinf(hi), highspy.kHighsInf, hi))

    def solve(self, target: np.ndarray, pull: np.ndarray, fix: int, fix_lo: float, fix_hi: float
              ) -> np.ndarray | None:
        """A witness with group ``fix`` in ``[fix_lo, fix_hi]``, candidates with ``pull`` drawn towards
        ``target``; None when there is none."""
        K, off = self.K, self.n_e + self.G
        t = target.astype(float)
        self._rows(np.arange(off, off + K), np.full(K, -np.inf), t)
        self._rows(np.arange(off + K, off + 2 * K), t, np.full(K, np.inf))
        self.h.changeColsCost(K, np.arange(self.n, self.n + K, dtype=np.int32), pull.astype(float))
        row = np.array([self.n_e + fix])
        self._rows(row, np.array([max(fix_lo, self.glo[fix])]), np.array([min(fix_hi, self.ghi[fix])]))
        try:
            self.h.run()
            self.n_solves += 1
            sol = self.h.getSolution()
            status = self.h.getModelStatus()
            if not sol.value_valid or status in (highspy.HighsModelStatus.kInfeasible,
                                                 highspy.HighsModelStatus.kUnboundedOrInfeasible):
                return None
            return np.round(np.asarray(sol.col_value)[:self.n]).astype(np.int64)
        finally:
            self._rows(row, self.glo[fix:fix + 1], self.ghi[fix:fix + 1])


def _group_bounds(model: LinearModel, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    glo = np.zeros(model.n_groups)
    ghi = np.full(model.n_groups, np.inf)
    np.maximum.at(glo, model.groups, np.asarray(lo, float))
    np.minimum.at(ghi, model.groups, np.asarray(hi, float))
    return glo, ghi


def find_witnesses(model: LinearModel, lo: np.ndarray, hi: np.ndarray, candidates: np.ndarray,
                   rule: ProtectionRule, must: np.ndarray | None = None) -> WitnessSet:
    """Witnesses for every ``candidates`` cell that can take every value ``rule`` requires.

    ``lo``/``hi`` per published cell: what the publication says of it (a visible figure ``lo == hi``, a
    withheld one its marker's band, a rounded one its rounding band). A candidate that cannot is left out
    of ``covering`` (what it can take follows from the publication, so leaving it out tells nothing); a
    ``must`` cell (a small count) that cannot raises ValueError: the audit would have failed.
    """
    glo, ghi = _group_bounds(model, lo, hi)
    if np.any(glo > ghi):
        g = int(np.flatnonzero(glo > ghi)[0])
        raise ValueError(f"{model.label(int(np.flatnonzero(model.groups == g)[0]))}: published bounds disagree")
    cand_groups = np.array(sorted(set(model.groups[np.asarray(candidates, bool)].tolist())), dtype=np.int64)
    must_groups = set(model.groups[np.asarray(must, bool)].tolist()) if must is not None else set()
    pos = {int(g): k for k, g in enumerate(cand_groups)}
    solver = _Solver(model, glo, ghi, cand_groups)
    R = solver.R
    A = sp.vstack([model.E, R], format="csr").astype(np.int64)
    witnesses: list[np.ndarray] = []
    gvalues: list[np.ndarray] = []
    seen: list[dict[int, int]] = [{} for _ in cand_groups]  # per candidate: value -> first witness

    def add(x: np.ndarray) -> None:
        # integer arithmetic: the rounded solution must hold exactly, or it is no witness
        ax = A @ x
        gv = ax[model.E.shape[0]:]
        if np.any(x < 0) or np.any(ax[:model.E.shape[0]] != 0) or np.any(gv < glo) or np.any(gv > ghi):
            raise RuntimeError("internal error: a MILP solution does not hold in whole numbers")
        k = len(witnesses)
        witnesses.append(x)
        gvalues.append(gv)
        for j, g in enumerate(cand_groups):
            seen[j].setdefault(int(gv[g]), k)

    dropped: set[int] = set()

    def drop(g: int, why: str) -> None:
        if g in must_groups:
            raise ValueError(f"{model.label(int(np.flatnonzero(model.groups == g)[0]))}: {why}")
        dropped.add(g)

    K = len(cand_groups)
    if rule.kind == "band":
        for v in range(1, rule.threshold):
            while True:
                todo = [int(g) for j, g in enumerate(cand_groups) if g not in dropped and v not in seen[j]]
                if not todo:
                    break
                pull = np.zeros(K)
                pull[[pos[g] for g in todo]] = 1.0
                x = solver.solve(np.full(K, v), pull, todo[0], v, v)
                if x is None:
                    drop(todo[0], f"no table consistent with the publication gives it the value {v}")
                else:
                    add(x)
    else:
        width = max(1, math.ceil(rule.min_width))
        x = solver.solve(np.zeros(K), np.ones(K), int(cand_groups[0]), 0, np.inf) if K else None
        if x is not None:
            add(x)
        for j, g in enumerate(cand_groups):
            g = int(g)
            if g in dropped or (seen[j] and max(seen[j]) - min(seen[j]) >= width):
                continue
            if not seen[j]:  # no table at all agrees with the publication
                drop(g, "no table consistent with the publication")
                continue
            low, high = min(seen[j]), max(seen[j])
            for f_lo, f_hi in ((low + width, np.inf), (-np.inf, high - width)):
                x = solver.solve(np.zeros(K), np.zeros(K), g, f_lo, f_hi)
                if x is not None:
                    add(x)
                    break
            else:  # the value seen is not at an end of its range: find the least, then one width above it
                at_least = _least(solver, g, K)
                x = None if at_least is None else solver.solve(np.zeros(K), np.zeros(K), g,
                                                               float(R[g] @ at_least) + width, np.inf)
                if at_least is None or x is None:
                    drop(g, f"no two tables consistent with the publication give it values {width} apart")
                    continue
                add(at_least)
                add(x)
    covering: dict[int, list[int]] = {}
    for i in np.flatnonzero(np.asarray(candidates, bool)):
        g = int(model.groups[i])
        if g in dropped:
            continue
        s = seen[pos[g]]
        if rule.kind == "band":
            covering[int(i)] = [s[v] for v in range(1, rule.threshold)]
        else:
            covering[int(i)] = sorted({s[min(s)], s[max(s)]})
    values = [model.group_rows() @ w for w in witnesses]  # per group; spread to cells below
    cell_values = [gv[model.groups] for gv in values]
    return WitnessSet(witnesses, cell_values, covering,
                      stats={"solves": solver.n_solves, "witnesses": len(witnesses), "candidates": int(K),
                             "dropped": len(dropped)})


def _least(solver: _Solver, g: int, K: int) -> np.ndarray | None:
    """A witness at the least value group ``g`` can take (a proven optimum: no gap allowed here)."""
    lo, hi = solver.R.indptr[g], solver.R.indptr[g + 1]
    idx = solver.R.indices[lo:hi].astype(np.int32)
    solver.h.changeColsCost(len(idx), idx, np.ones(len(idx)))
    solver.h.setOptionValue("mip_rel_gap", 0.0)
    try:
        return solver.solve(np.zeros(K), np.zeros(K), g, -np.inf, np.inf)
    finally:
        solver.h.changeColsCost(len(idx), idx, np.zeros(len(idx)))
        solver.h.setOptionValue("mip_rel_gap", 0.2)
