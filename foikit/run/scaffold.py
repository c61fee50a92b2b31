"""`foikit templates` and `foikit new`: what request types there are, and a params file to start from."""

from __future__ import annotations

import ast
import datetime
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from foikit.exceptions import ParamsError
from foikit.request.params import Request, Suppression
from foikit.run.paths import check_name, find_template, inside

# Like 01.FOI.23.032341 (force, FOI, year, number), optionally with a suffix for a variant of one request.
DEFAULT_REF_PATTERN = r"\d{2}\.FOI\.\d{2}\.\d{6}(-[a-z0-9-]+)?"
NOT_PARAMETERS = {"output_dir", "ledger"}  # set by foikit run, not by the request


def ref_pattern(project: Path | None = None) -> str:
    """The force's reference pattern: $FOIKIT_REF_PATTERN, else ``[tool.foikit] ref_pattern`` in the
    project's pyproject.toml, else :data:`DEFAULT_REF_PATTERN`."""
    if os.environ.get("FOIKIT_REF_PATTERN"):
        return os.environ["FOIKIT_REF_PATTERN"]
    pyproject = (project or Path.cwd()) / "pyproject.toml"
    if pyproject.is_file():
        config = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("foikit", {})
        if "ref_pattern" in config:
            return str(config["ref_pattern"])
    return DEFAULT_REF_PATTERN


def check_ref(ref: str, pattern: str) -> None:
    if not re.fullmatch(pattern, ref):
        raise ParamsError(f"ref {ref!r} does not match the reference pattern {pattern} (set FOIKIT_REF_PATTERN "
                          "or [tool.foikit] ref_pattern in pyproject.toml to change it)")


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    path: Path
    title: str
    defaults: dict[str, Any]  # the parameters cell's values


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parameter_defaults(source: str) -> dict[str, Any]:
    """The literal values a parameters cell assigns, by name, as papermill's parameter inspection reads them
    (read here with ast, because papermill and nbformat cost a second of imports before `foikit templates` or
    `foikit new` could answer). Every assignment in a foikit template's parameters cell is a literal.

    >>> parameter_defaults('ref = "EXAMPLE"  # the reference\nyears: list = [2020]')
    {'ref': 'EXAMPLE', 'years': [2020]}
    """
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target, value = ((node.targets[0], node.value) if isinstance(node, ast.Assign) and len(node.targets) == 1
                         else (node.target, node.value) if isinstance(node, ast.AnnAssign) else (None, None))
        if isinstance(target, ast.Name) and value is not None:
            out[target.id] = ast.literal_eval(value)
    return out


def template_info(path: Path) -> TemplateInfo:
    """A template's title (its first heading) and the defaults of its parameters cell."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        title = next((line.lstrip("# ").strip() for c in cells if c.get("cell_type") == "markdown"
                      for line in _source(c).splitlines() if line.startswith("#")), path.stem)
        cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
        defaults = parameter_defaults(_source(cell))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, StopIteration, SyntaxError) as exc:
        raise ParamsError(f"{path}: not a foikit template (no readable parameters cell: {type(exc).__name__})"
                          ) from None
    return TemplateInfo(path.stem, path, title, {k: v for k, v in defaults.items() if k not in NOT_PARAMETERS})


def list_templates(notebooks_dir: str | Path | None = None) -> list[TemplateInfo]:
    folder = Path(notebooks_dir) if notebooks_dir else find_template("conduct_allegations").parent
    return [template_info(p) for p in sorted(folder.glob("*.ipynb"))]


def _type_name(annotation: Any) -> str:
    """A field's type as a person reads it: ``list[int]``, ``str | None``, without pydantic's constraints."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(_type_name(a) for a in args))
    if origin is Literal:
        return " | ".join(map(repr, args))
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _comment(field: FieldInfo) -> str:
    bits = [field.description] if field.description else []
    if _model_of(field.annotation) is not None:  # its fields are commented one by one below
        return "; ".join(bits) or "see below"
    literal = [a for a in typing.get_args(field.annotation) if typing.get_origin(a) is Literal]
    if typing.get_origin(field.annotation) is Literal:
        literal = [field.annotation]
    if literal:
        bits.append("allowed: " + ", ".join(map(str, typing.get_args(literal[0]))))
    else:
        bits.append(f"type: {_type_name(field.annotation)}")
    if not field.is_required():
        default = field.get_default(call_default_factory=True)
        bits.append(f"default: {json.dumps(default.model_dump() if isinstance(default, BaseModel) else default)}")
    else:
        bits.append("required")
    return "; ".join(bits)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _emit(model: type[BaseModel], values: dict[str, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for name, field in model.model_fields.items():
        value = values[name] if name in values else (None if field.is_required() else
                                                    field.get_default(call_default_factory=True))
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        out.append(f"{pad}# {_comment(field)}")
        sub = _model_of(field.annotation)
        inner = typing.get_args(field.annotation)
        item_model = _model_of(inner[0]) if typing.get_origin(field.annotation) is list and inner else None
        if name == "suppression" and values.get("policy") and indent == 0 and isinstance(value, dict):
            # Every field written here would override the named policy's: the block is there to read and to
            # uncomment a field from, not in force.
            out.append(f"{pad}# fields set here override the policy's, one by one: uncomment only those to change")
            block: list[str] = []
            _emit(Suppression, value, indent + 2, block)
            out.append(f"{pad}# {name}:")
            out.extend(f"{pad}# {line[len(pad):]}" for line in block)
        elif sub is not None and isinstance(value, dict):
            out.append(f"{pad}{name}:")
            _emit(sub, value, indent + 2, out)
        elif item_model is not None and isinstance(value, list) and value:
            out.append(f"{pad}{name}:")
            for item in value:
                lines: list[str] = []
                _emit(item_model, item, indent + 4, lines)
                first = next(i for i, line in enumerate(lines) if not line.lstrip().startswith("#"))
                lines[first] = f"{pad}  - {lines[first].lstrip()}"
                out.extend(lines)
        elif isinstance(value, str) and "\n" in value:
            out.append(f"{pad}{name}: |")
            out.extend(f"{pad}  {line}" for line in value.rstrip("\n").splitlines())
        else:
            out.append(f"{pad}{name}: {json.dumps(value, ensure_ascii=False, default=str)}")


def scaffold(ref: str, template: str, notebooks_dir: str | Path | None = None, params_dir: str | Path = "params",
             force: bool = False) -> Path:
    """Write ``params/<ref>.yaml`` from the template's defaults, every field commented; refuses a ref that
    does not match the force's pattern, and an existing file unless ``force``.

    >>> scaffold("01.FOI.25.000123", "conduct_allegations")  # doctest: +SKIP
    PosixPath('params/01.FOI.25.000123.yaml')
    """
    check_name("ref", ref, "foikit new")  # whatever the force's pattern allows, a ref stays in params/
    check_name("template", template, "foikit new")
    check_ref(ref, ref_pattern())
    path = inside(Path(params_dir), f"{ref}.yaml", "ref", "foikit new")
    info = template_info(find_template(template, notebooks_dir))
    # a new request is dated today (the letter's date; edit it to the day the response is sent)
    values = {**info.defaults, "ref": ref, "template": template, "date": datetime.date.today().isoformat()}
    if Suppression.model_validate(values.get("suppression") or {}) == Suppression():
        # the template asks for nothing but the defaults: the request takes the force's policy (the project's
        # policies/default.yaml, else foikit's, which holds the defaults), so that a force sets it once
        values = {**{k: v for k, v in values.items() if k != "suppression"}, "policy": "default"}
    Request.model_validate(values)  # the scaffold must itself be a valid request
    if path.exists() and not force:
        raise ParamsError(f"{path}: exists already; edit it, or use --force to overwrite it")
    out = [f"# Request {ref}, answered with the template {template} ({info.title}).",
           "# Edit every value below; run with: foikit run " + str(path), ""]
    _emit(Request, values, 0, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
