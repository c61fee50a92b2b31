"""Where foikit may write: one place that refuses names and paths that would leave their folder.

A ref names a folder under reports/ and a file under params/; a template names a notebook. Each must be
one plain path component, and the folder it names must stay inside its parent once symlinks are followed,
so that no request, however written, makes foikit write (or delete, or rename) anything outside reports/.
Every check runs before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from foikit.exceptions import ParamsError, ReportError

MAX_NAME = 200


def check_name(field: str, value: object, source: str = "params") -> str:
    """``value`` as a single, plain path component, or a ``ParamsError`` naming ``field`` and the value.

    >>> check_name("ref", "01.FOI.23.032341")
    '01.FOI.23.032341'
    >>> check_name("ref", "../x")
    Traceback (most recent call last):
    ...
    foikit.exceptions.ParamsError: params: ref: '../x' is not a plain name (it would leave its folder)
    """
    def refuse(why: str) -> ParamsError:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        return ParamsError(f"{source}: {field}: {shown} {why}")

    if not isinstance(value, str) or not value:
        raise refuse("is not a non-empty name")
    if "\0" in value:
        raise refuse("contains a NUL character")
    if len(value) > MAX_NAME:
        raise refuse(f"is longer than {MAX_NAME} characters")
    if (value in {".", ".."} or value.startswith(".") or "/" in value or "\\" in value
            or os.path.isabs(value) or Path(value).name != value):
        raise refuse("is not a plain name (it would leave its folder)")
    if any(ord(c) < 32 for c in value):
        raise refuse("contains a control character")
    return value


def check_path(field: str, value: str | os.PathLike[str], source: str = "params") -> Path:
    """A path given on the command line or to the API, refused if it holds a NUL (which no file system
    accepts, and which would otherwise surface as an unexplained ValueError)."""
    text = os.fspath(value)
    if "\0" in text:
        raise ParamsError(f"{source}: {field}: {text!r} contains a NUL character")
    return Path(text)


def inside(folder: Path, name: str, field: str, source: str = "params") -> Path:
    """``folder/name``, refused when it is a symlink or, with symlinks followed, not directly inside
    ``folder`` (a link planted at ``folder/name`` that points elsewhere). ``name`` is checked by the caller
    (with :func:`check_name` when it comes from the user)."""
    path = folder / name
    base = folder.resolve()
    if path.is_symlink() or path.resolve().parent != base:
        raise ParamsError(f"{source}: {field}: {name!r}: {path} leads outside {folder} (through a symlink); "
                          "refusing to write there")
    return path


def not_a_link(field: str, folder: Path, source: str = "params") -> Path:
    """``folder``, refused when it is a symlink: what foikit writes beside it (its workspace, the failed
    notebooks) would otherwise land beside the link's target, wherever that is."""
    if folder.is_symlink():
        shown = repr(os.readlink(folder))
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        raise ParamsError(f"{source}: {field}: {folder} is a symlink (to {shown}); refusing to write through it: "
                          "give the folder itself")
    return folder


def find_template(name: str, notebooks_dir: str | Path | None = None) -> Path:
    """The notebook template ``notebooks/<name>.ipynb``: in ``notebooks_dir``, else ./notebooks, else the
    notebooks/ beside the installed package (an editable install of this repository)."""
    candidates = [Path(notebooks_dir)] if notebooks_dir else [Path("notebooks"),
                                                             Path(__file__).resolve().parents[2] / "notebooks"]
    for folder in candidates:
        path = folder / f"{name}.ipynb"
        if path.is_file():
            return path
    raise ReportError(f"template {name!r}: no {name}.ipynb in {', '.join(map(str, candidates))}")
