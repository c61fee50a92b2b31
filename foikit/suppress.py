"""The suppression rule: which cells are withheld, and with which marker.

Primary suppression (s.40(2) FOIA, personal data): every cell, totals included, whose count is from 1 to
``threshold - 1`` is withheld and shown as the policy's marker. Zero is shown as 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foikit.params import Suppression


def is_small(values: pd.Series | np.ndarray, threshold: int) -> np.ndarray:
    """Counts that are personal data under the rule: from 1 to ``threshold - 1``."""
    v = np.asarray(values)
    return (v >= 1) & (v < threshold)


def apply_primary(cells: pd.DataFrame, policy: Suppression) -> pd.DataFrame:
    """Add ``hidden``, ``marker``, ``reason`` and the published text ``shown`` to long-form cells.

    >>> cells = pd.DataFrame({"value": [0, 3, 12]})
    >>> apply_primary(cells, Suppression())["shown"].tolist()
    ['0', '[xx]', '12']
    """
    out = cells.copy()
    small = is_small(out["value"], policy.threshold)
    out["hidden"] = small
    out["marker"] = np.where(small, policy.marker, "")
    out["reason"] = np.where(small, "primary", "")
    out["shown"] = np.where(small, policy.marker, out["value"].astype(str))
    return out
