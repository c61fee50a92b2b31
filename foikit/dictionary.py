"""Data dictionaries: each column's type and label, the order of categories, and the counting units."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from foikit.exceptions import ParamsError

NOT_RECORDED = "Not recorded"
YEAR = "year"


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "category", "date"]
    label: str
    categories: tuple[str, ...] | None = None
    nullable: bool = False


class Dictionary(BaseModel):
    """A dataset's dictionary, loaded from YAML (see ``foikit/data/conduct_allegations.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int
    description: str = ""
    key: tuple[str, ...] = ()
    units: dict[str, str] = Field(min_length=1)
    columns: dict[str, ColumnSpec]
    source: str = ""

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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: data dictionary not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    try:
        return Dictionary.model_validate({**(raw or {}), "source": str(path)})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ParamsError(f"{path}: {field}: {err['msg']}") from None


def embedded_dictionary(name: str = "conduct_allegations") -> Dictionary:
    """The dictionary shipped with the embedded synthetic dataset ``name``."""
    with resources.as_file(resources.files("foikit") / "data" / f"{name}.yaml") as path:
        return load_dictionary(path)


def inferred_dictionary(columns: list[str], source: str) -> Dictionary:
    """A permissive dictionary for data that comes without one: every column a category, rows counted."""
    return Dictionary(
        name=Path(source).stem,
        version=0,
        units={"rows": "rows of the source data"},
        columns={c: ColumnSpec(type="category", label=c.replace("_", " ").capitalize()) for c in columns},
        source="(inferred from the data)",
    )
