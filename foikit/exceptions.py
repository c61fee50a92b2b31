"""Errors foikit raises on bad input: one line first, naming the file, field or column and the values."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Self


class FoikitError(Exception):
    """Base class: the first line of ``str(error)`` is a complete, self-contained message.

    Its parts are fields, as data, for the CLI to format and a caller to inspect: ``where`` (the file, field
    or column, from the outermost in: ``params.yaml: parts.0.date_column``), ``problem`` (what is wrong),
    and ``values`` (the offending values themselves, as pandera's ``failure_cases``; never more than the
    message names). An error made from one string has that string as its problem.

    >>> e = DataError("parts.0.filter.outcome", "['Upheld'] not found in column 'outcome'", values=["Upheld"])
    >>> str(e.within("params.yaml"))
    "params.yaml: parts.0.filter.outcome: ['Upheld'] not found in column 'outcome'"
    >>> e.within("params.yaml").values
    ('Upheld',)
    """

    def __init__(self, where: str, problem: str | None = None, *, values: Iterable[object] = ()) -> None:
        if problem is None:  # one string: the whole message
            where, problem = "", where
        self.where, self.problem, self.values = where, problem, tuple(values)
        super().__init__(self.message())

    def message(self) -> str:
        """The one-line message the fields make: where, then what."""
        return (f"{self.where}: " if self.where else "") + self.problem

    def within(self, outer: str) -> Self:
        """The same error, located inside ``outer`` (the file or field that holds ``where``)."""
        return type(self)(f"{outer}: {self.where}" if self.where else outer, self.problem, values=self.values)


class ParamsError(FoikitError):
    """The request parameters are invalid (unknown key, wrong type, value not allowed)."""


class DataError(FoikitError):
    """The case data does not fit the request (missing file or column, unknown value, empty period)."""


class ReportError(FoikitError):
    """A report cannot be written (it exists already, or the run failed)."""


class DisclosureError(FoikitError):
    """A response cannot be published safely: the disclosure audit does not pass."""


ECHO_LIMIT = 200  # characters of an offending value a message may quote


def capped(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` for a message, at most about ``limit`` characters: a longer value is cut with an
    ellipsis and its full size, so that no message echoes a huge input whole.

    >>> capped("x" * 1000, 10)
    "'xxxxxxxxx… (1,000 characters)"
    >>> capped([1, 2])
    '[1, 2]'
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{repr(value[:limit])[:limit]}… ({len(value):,} characters)"
    # reprlib bounds the work as well as the text: a huge or deeply nested value is never rendered whole
    try:
        shown = _REPR.repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"(an integer of {value.bit_length():,} bits)" if isinstance(value, int) else "(unprintable)"
    if len(shown) <= limit:
        return shown
    size = f" ({len(value):,} items)" if isinstance(value, list | tuple | dict | set | frozenset) else ""
    return f"{shown[:limit]}…{size}"


def capped_text(value: object, limit: int = ECHO_LIMIT) -> str:
    """``value`` as text of at most about ``limit`` characters on one line (control characters escaped): a
    message never echoes a huge value whole, nor breaks its first line."""
    text = str(value)
    short = text[:limit]
    if not short.isprintable():
        short = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in short)
    return short if len(text) <= limit else f"{short}... ({len(text)} characters)"


def _make_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxstring = r.maxother = r.maxlong = ECHO_LIMIT // 3
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 20
    r.maxlevel = 4
    return r


_REPR = _make_repr()
