"""The package's shape: no foikit module imports another from inside a function (which would hide a cycle
from import-linter, run as part of the test command), except the CLI, which imports each command's modules
only when that command runs, so that `foikit --help` and params errors come before pandas loads."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "foikit"


def _nested_foikit_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if in_function and isinstance(child, ast.ImportFrom) and (child.module or "").startswith("foikit"):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{child.lineno}: from {child.module}")
            elif in_function and isinstance(child, ast.Import):
                found.extend(f"{path.relative_to(PACKAGE.parent)}:{child.lineno}: import {a.name}"
                             for a in child.names if a.name.split(".")[0] == "foikit")
            visit(child, inside)

    visit(tree, False)
    return found


def test_no_function_level_imports_of_foikit_modules_outside_the_cli():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "cli.py"
             for hit in _nested_foikit_imports(path)]
    assert found == []


def test_the_check_finds_a_function_level_import(tmp_path, monkeypatch):
    module = tmp_path / "foikit" / "m.py"
    module.parent.mkdir()
    module.write_text("import foikit.layout\n\ndef f():\n    from foikit.cube import sql\n    import foikit.run\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", module.parent)
    assert _nested_foikit_imports(module) == ["foikit/m.py:4: from foikit.cube", "foikit/m.py:5: import foikit.run"]
