"""The suppression policy, owned in one place: everything the rest of foikit needs to know about it.

A request's ``suppression:`` (:class:`foikit.request.params.Suppression`, with a named policy file already laid
under it) becomes one frozen :class:`Policy`. From it, and nowhere else, come the threshold, the markers and
what each of them states about the count it hides, the rule the disclosure audit enforces (a
:class:`~foikit.sdc.audit.ProtectionRule`), the settings of secondary suppression (a
:class:`~foikit.sdc.secondary.SecondaryPolicy`), what the leak check needs (:class:`LeakPolicy`) and the
sentences that explain the markers in the letter, the record and the spreadsheet.

The engine (:mod:`foikit.sdc`) knows nothing of requests: this module builds its objects, never the other way
round.

>>> policy = Policy.from_params(Suppression(threshold=10))
>>> policy.states("[xx]"), policy.states("[c]")
(Band(low=1, high=9), Band(low=0, high=None))
>>> policy.protection_rule
ProtectionRule(kind='band', threshold=10, width=1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from foikit.request.params import Request, RuleKind, Suppression
from foikit.sdc.audit import ProtectionRule
from foikit.sdc.secondary import SecondaryPolicy

__all__ = ["DEFAULT_POLICY", "Band", "LeakPolicy", "Policy"]


class Band(NamedTuple):
    """The integers a published marker says its count lies in: ``low`` to ``high`` (None: no upper bound)."""

    low: int
    high: int | None

    def floats(self) -> tuple[float, float]:
        """As the audit's bounds: ``(low, high)`` in floats, ``inf`` for no upper bound."""
        return float(self.low), math.inf if self.high is None else float(self.high)


@dataclass(frozen=True)
class LeakPolicy:
    """What the leak check needs of the policy, and no more: the check reads every file back independently of
    the code that suppressed it, so it takes plain values."""

    threshold: int
    markers: frozenset[str]
    rounding: int | None  # the rounding base, or None when cells are withheld


@dataclass(frozen=True)
class Policy:
    """One request's suppression policy. ``settings`` is the validated ``suppression:`` (the named policy's
    settings with the request's own laid over them); ``name`` the policy file it started from, if any."""

    settings: Suppression
    name: str | None = None

    @classmethod
    def from_params(cls, settings: Suppression, name: str | None = None) -> Policy:
        return cls(settings, name)

    @classmethod
    def of(cls, request: Request) -> Policy:
        return cls(request.suppression, request.policy)

    # -- the values -----------------------------------------------------------------------------------------
    @property
    def threshold(self) -> int:
        """The smallest count published as it is; counts from 1 to ``threshold - 1`` are withheld."""
        return self.settings.threshold

    @property
    def marker(self) -> str:
        """What a withheld small count is shown as."""
        return self.settings.marker

    @property
    def secondary_marker(self) -> str:
        """What a cell withheld to protect others (or a small count shown so) is shown as."""
        return self.settings.secondary.marker

    @property
    def secondary_note(self) -> str:
        return self.settings.secondary.note

    @property
    def markers(self) -> tuple[str, str]:
        return self.marker, self.secondary_marker

    @property
    def rounding(self) -> int | None:
        """The rounding base when every figure is rounded instead of withheld, else None."""
        return self.settings.rounding.base if self.settings.rounding else None

    @property
    def rule(self) -> RuleKind:
        """The audit rule: ``band``, ``not_exact`` or ``min_width``; unset, band (not_exact when rounding)."""
        return self.settings.rule or ("not_exact" if self.settings.rounding else "band")

    # -- what a marker states -------------------------------------------------------------------------------
    def states(self, marker: str) -> Band:
        """The counts ``marker`` says are possible: the primary marker 1 to threshold-1, the secondary marker
        anything (it also hides counts of 0 and counts above the threshold)."""
        if marker == self.marker:
            return Band(1, self.threshold - 1)
        if marker == self.secondary_marker:
            return Band(0, None)
        raise KeyError(f"{marker!r} is not a marker of this policy ({', '.join(self.markers)})")

    def stated_ranges(self) -> dict[str, tuple[float, float]]:
        """Marker -> the bounds it states, as the audit takes them (``inf`` for no upper bound)."""
        return {m: self.states(m).floats() for m in self.markers}

    # -- what the engine is given ---------------------------------------------------------------------------
    @property
    def protection_rule(self) -> ProtectionRule:
        """The rule the disclosure audit requires of every small count."""
        return ProtectionRule(kind=self.rule, threshold=self.threshold, width=self.settings.min_width)

    def secondary_policy(self, withhold_tables: Sequence[str] = ()) -> SecondaryPolicy:
        """How secondary suppression chooses further cells, withholding ``withhold_tables`` whole."""
        sec = self.settings.secondary
        return SecondaryPolicy(
            threshold=self.threshold, rule=self.protection_rule, method=sec.method, cost=sec.cost,
            total_factor=sec.total_factor, primary_marker=self.marker, secondary_marker=self.secondary_marker,
            allow_marker_switch=sec.marker_switch, marker_cost=sec.marker_cost, time_limit=sec.time_limit,
            withhold_tables=tuple(withhold_tables))

    @property
    def leak_policy(self) -> LeakPolicy:
        return LeakPolicy(self.threshold, frozenset(self.markers), self.rounding)

    # -- the wording ----------------------------------------------------------------------------------------
    @property
    def small_range(self) -> str:
        """The counts withheld, in words: 'from 1 to 4'."""
        band = self.states(self.marker)
        return f"from {band.low} to {band.high}"

    def audit_meanings(self) -> dict[str, str]:
        """audit.json's ``markers``: marker -> what it means."""
        return {self.marker: f"a count {self.small_range} (personal data)", self.secondary_marker: self.secondary_note}

    def letter_meanings(self) -> dict[str, str]:
        """The letter's key: marker -> what it means."""
        return {self.marker: f"a figure {self.small_range}, withheld (personal data)",
                self.secondary_marker: self.secondary_note}

    def sheet_notes(self) -> list[str]:
        """The lines explaining the markers under every table of the XLSX and on its cover."""
        return [f"{self.marker}: a count {self.small_range}, withheld (s.40(2) FOIA).",
                f"{self.secondary_marker}: {self.secondary_note}."]

    def sheet_rounding_note(self) -> str:
        """The line under every table of the XLSX when figures are rounded."""
        return (f"Every figure is rounded to the nearest {self.rounding}; totals are rounded independently, so "
                "they may not equal the sum of the rounded figures.")

    @property
    def record_meaning(self) -> str:
        """What the primary marker means, in the record (the notebook's suppression section)."""
        return f"a count {self.small_range}, withheld as personal data"

    def record_rounding_note(self) -> str:
        return f"Every figure is rounded to the nearest {self.rounding}, totals independently. "

    def rule_sentence(self) -> str:
        """What the audit rule guarantees, in the record."""
        r = self.small_range
        return {
            "band": f"for every count {r}, the range an intruder can work out from everything this response "
                    f"publishes (every table, total and marker) still includes every value {r}",
            "not_exact": f"no count {r} can be worked out exactly from what this response publishes",
            "min_width": f"for every count {r}, the range an intruder can work out is at least "
                         f"{self.settings.min_width:g} wide",
        }[self.rule]

    def summary(self) -> str:
        """One line for the record's provenance block."""
        return (f"threshold {self.threshold}, marker {self.marker}, secondary marker {self.secondary_marker}, "
                f"rule {self.rule}")


# What a request naming no policy gets: the schema's defaults (the shipped policies/default.yaml holds the same
# values; tests/test_policy.py keeps them equal). Also what an imported response states when its import file
# gives no markers.
DEFAULT_POLICY = Policy(Suppression())
