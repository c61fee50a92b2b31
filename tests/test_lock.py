"""requirements/lock.txt and lowest.txt agree with pyproject.toml and with the committed example reports."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from .conftest import EXAMPLE_REPORT, ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+) \\$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version \\` line (each is followed by its hashes)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line):
            assert _name(m[1]) not in found, f"{path.name}: {m[1]} is pinned twice"
            found[_name(m[1])] = m[2]
    return found


def direct() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_pin_carries_hashes():
    for name in ("lock.txt", "lowest.txt"):
        text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert len(blocks) == len(pins(ROOT / "requirements" / name)) > 100
        for block in blocks:
            assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"{name}: no hash for {block.split()[0]}"


def test_the_lock_satisfies_every_declared_requirement():
    lock = pins(ROOT / "requirements" / "lock.txt")
    for req in direct():
        assert _name(req.name) in lock, f"requirements/lock.txt: {req.name} is not pinned (bash .ci/lock.sh)"
        pinned = lock[_name(req.name)]
        assert req.specifier.contains(pinned), f"requirements/lock.txt: {req.name}=={pinned}, not {req}"


def test_lowest_pins_every_direct_dependency_at_its_declared_lower_bound():
    lowest = pins(ROOT / "requirements" / "lowest.txt")
    for req in direct():
        (bound,) = [s.version for s in req.specifier if s.operator == ">="]
        assert Version(lowest[_name(req.name)]) == Version(bound), (
            f"requirements/lowest.txt: {req.name}=={lowest[_name(req.name)]}, but pyproject.toml says {req} "
            "(bash .ci/lock.sh; raise the bound if that version cannot be installed)")


def test_the_lock_pins_what_the_committed_example_reports_were_made_with():
    lock = pins(ROOT / "requirements" / "lock.txt")
    recorded = json.loads((EXAMPLE_REPORT / "manifest.json").read_text(encoding="utf-8"))["versions"]
    shaping = {_name(n): v for n, v in recorded.items() if n not in ("python", "kernel", "foikit")}
    assert len(shaping) == 27 and shaping["lxml"] == "6.1.3" and shaping["odfpy"] == "1.4.1"
    assert {n: lock.get(n) for n in shaping} == shaping
