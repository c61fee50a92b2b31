"""The suppression rule: which cells are withheld, with which marker, and the proof that it is enough.

Primary suppression (s.40(2) FOIA, personal data): every cell, totals included, whose count is from 1 to
``threshold - 1`` is withheld and shown as the policy's marker. Zero is shown as 0.

Primary suppression alone is not safe (a withheld cell can be recovered from totals and from other tables
of the response), so :func:`protect_part` then withholds further cells across all tables of a part jointly
(:mod:`foikit.sdc.secondary`) until the disclosure audit (:mod:`foikit.sdc.audit`) proves that no small count can
be narrowed below the rule. Rounding is the alternative policy: every cell rounded, the same audit applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from foikit.exceptions import DisclosureError
from foikit.sdc.audit import AuditResult, audit
from foikit.sdc.linear import build_model
from foikit.sdc.secondary import SecondaryPolicy, UnprotectableError, protect


def is_small(values: pd.Series | np.ndarray, threshold: int) -> np.ndarray:
    """Counts that are personal data under the rule: from 1 to ``threshold - 1``."""
    v = np.asarray(values)
    return (v >= 1) & (v < threshold)


def apply_primary(cells: pd.DataFrame, threshold: int, marker: str) -> pd.DataFrame:
    """Add ``hidden``, ``marker``, ``reason`` and the published text ``shown`` to long-form cells.

    >>> cells = pd.DataFrame({"value": [0, 3, 12]})
    >>> apply_primary(cells, 5, "[xx]")["shown"].tolist()
    ['0', '[xx]', '12']
    """
    out = cells.copy()
    small = is_small(out["value"], threshold)
    out["hidden"] = small
    out["marker"] = np.where(small, marker, "")
    out["reason"] = np.where(small, "primary", "")
    out["shown"] = np.where(small, marker, out["value"].astype(str))
    return out


def round_to_base(values: np.ndarray, base: int) -> np.ndarray:
    """Round half up to a multiple of ``base`` (2 -> 0, 3 -> 5, 7 -> 5, 8 -> 10 for base 5)."""
    return (np.floor(np.asarray(values, dtype=float) / base + 0.5) * base).astype(np.int64)


@dataclass(frozen=True)
class Protection:
    """A part's cells as published (hidden, marker, reason, shown, derivable lower/upper) and the audit."""

    cells: pd.DataFrame
    audit: AuditResult
    stats: dict[str, Any] = field(default_factory=dict)


def _model_inputs(cells: pd.DataFrame, tables: Mapping[str, Sequence[str]]) -> list[tuple[str, dict]]:
    return [
        (table, {d: (row[d] or None) for d in tables[table]})
        for table, row in zip(cells["table"], cells.to_dict("records"), strict=True)
    ]


def protect_part(cells: pd.DataFrame, categories: Mapping[str, Sequence[str]],
                 tables: Mapping[str, Sequence[str]], policy: SecondaryPolicy, rounding: int | None = None,
                 where: str = "part") -> Protection:
    """Withhold (or, with a ``rounding`` base, round) the cells of one part so that the disclosure audit passes.

    ``cells`` is long form: ``table``, a column per dimension ('' where a cell sums over it) and the true
    ``value``. ``policy`` (built by :meth:`foikit.request.policy.Policy.secondary_policy`) gives the threshold,
    the markers, the rule and the tables withheld whole. Raises :class:`DisclosureError` when no pattern can
    meet the rule.
    """
    model = build_model(categories, tables, _model_inputs(cells, tables))
    values = cells["value"].to_numpy(dtype=np.int64)
    sensitive = is_small(values, policy.threshold)
    rule = policy.effective_rule
    out = cells.copy()
    if rounding is not None:
        base = rounding
        shown = round_to_base(values, base)
        lo = np.maximum(0, shown - base // 2)
        hi = shown + (base - 1) // 2
        result = audit(model, values, np.ones(len(values), bool), lo.astype(float), hi.astype(float),
                       sensitive, rule)
        out["hidden"], out["marker"], out["reason"] = False, "", ""
        out["shown"] = shown.astype(str)
        stats: dict[str, Any] = {"method": f"rounding to base {base}"}
    else:
        try:
            pattern = protect(model, values, sensitive, policy)
        except UnprotectableError as exc:
            detail = str(exc).splitlines()
            raise DisclosureError(
                f"{where}: no suppression pattern protects every small count; refusing to publish. "
                f"Remedies: merge categories ({where}.merge) or withhold the table ({where}.withhold_tables)\n"
                + "\n".join(detail[1:])
            ) from None
        result = pattern.audit
        out["hidden"] = pattern.hidden
        out["marker"] = pattern.markers
        out["reason"] = pattern.reasons
        out["shown"] = np.where(pattern.hidden, pattern.markers, out["value"].astype(str))
        stats = pattern.stats
    out["lower"] = result.lower
    out["upper"] = result.upper
    return Protection(cells=out, audit=result, stats=stats)
