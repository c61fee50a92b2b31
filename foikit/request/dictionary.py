"""Data dictionaries: each column's type and label, the order of categories, and the counting units."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from foikit.exceptions import ParamsError
from foikit.request.params import describe_validation, read_yaml

NOT_RECORDED = "Not recorded"
YEAR = "year"


class ColumnSpec(BaseModel):
    """A column: its type and label; for categories, their published order, the raw codes that map to each
    (several codes may map to one label: a merge), and the bucket for codes the dictionary does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "category", "date"]
    label: str
    categories: tuple[str, ...] | None = None
    codes: dict[str, str] | None = None
    other: str | None = None
    nullable: bool = False

    @model_validator(mode="after")
    def _codes_map_to_categories(self) -> ColumnSpec:
        if self.codes is not None:
            if self.categories is None:
                raise ValueError("codes need categories: the published labels, in order")
            unknown = sorted(set(self.codes.values()) - set(self.categories))
            if unknown:
                raise ValueError(f"codes map to labels that are not categories: {unknown}")
        if self.other is not None and self.other not in (self.categories or ()):
            raise ValueError(f"other bucket {self.other!r} is not one of the categories")
        return self

    def code_map(self) -> dict[str, str]:
        """Raw value -> published label (identity for each category when no codes are given)."""
        if self.codes is not None:
            return dict(self.codes)
        return {c: c for c in self.categories or ()}


class Unit(BaseModel):
    """A counting unit: rows (no key) or distinct values of ``key`` (e.g. officers: officer_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    key: tuple[str, ...] = ()


class Dictionary(BaseModel):
    """A dataset's dictionary, loaded from YAML (see ``foikit/data/conduct_allegations.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int
    description: str = ""
    key: tuple[str, ...] = ()
    # rows equal in every column, in data without a key: refused (each would be counted again), or allowed
    # where such rows are distinct cases that the data cannot tell apart
    duplicate_rows: Literal["refuse", "allow"] = "refuse"
    units: dict[str, Unit] = Field(min_length=1)
    columns: dict[str, ColumnSpec]
    source: str = ""

    @field_validator("units", mode="before")
    @classmethod
    def _unit_shorthand(cls, value: object) -> object:
        # "unit: description" is a unit that counts rows
        if isinstance(value, dict):
            return {k: {"description": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def label(self, dim: str) -> str:
        """Human label of a dimension (a column, or the derived ``year``)."""
        if dim == YEAR:
            return "Year"
        spec = self.columns.get(dim)
        return spec.label if spec else dim.replace("_", " ").capitalize()

    def categories(self, column: str) -> tuple[str, ...] | None:
        spec = self.columns.get(column)
        return spec.categories if spec else None


def load_dictionary(path: str | Path) -> Dictionary:
    """Load and validate a dictionary YAML; errors name the file and the field."""
    path = Path(path)
    raw = read_yaml(path, "data dictionary")
    if not isinstance(raw, dict):  # e.g. a CSV or a text file, which YAML reads as one string
        raise ParamsError(f"{path}: not a data dictionary: expected a mapping of dictionary fields, got "
                          f"{type(raw).__name__}")
    try:
        return Dictionary.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        raise ParamsError(describe_validation(exc, raw, str(path))) from None


def embedded_dictionary(name: str = "conduct_allegations") -> Dictionary:
    """The dictionary shipped with the embedded synthetic dataset ``name``."""
    with resources.as_file(resources.files("foikit") / "data" / f"{name}.yaml") as path:
        return load_dictionary(path)


def inferred_dictionary(columns: list[str], source: str) -> Dictionary:
    """A permissive dictionary for data that comes without one: every column a category, rows counted."""
    return Dictionary(
        name=Path(source).stem,
        version=0,
        units={"rows": Unit(description="rows of the source data")},
        columns={c: ColumnSpec(type="category", label=c.replace("_", " ").capitalize()) for c in columns},
        source="(inferred from the data)",
    )
