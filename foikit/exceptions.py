"""Errors foikit raises on bad input: one line first, naming the file, field or column and the values."""

from __future__ import annotations


class FoikitError(Exception):
    """Base class: the first line of ``str(error)`` is a complete, self-contained message."""


class ParamsError(FoikitError):
    """The request parameters are invalid (unknown key, wrong type, value not allowed)."""


class DataError(FoikitError):
    """The case data does not fit the request (missing file or column, unknown value, empty period)."""


class ReportError(FoikitError):
    """A report cannot be written (it exists already, or the run failed)."""


class DisclosureError(FoikitError):
    """A response cannot be published safely: the disclosure audit does not pass."""
