"""Paths: a ref, a template or a report folder that would make foikit write outside reports/ (or params/)
is refused with one line naming the field and the value, before anything runs or is written."""

from __future__ import annotations

import os

import pytest
import yaml

from foikit.cli import main
from foikit.exceptions import ParamsError
from foikit.run.paths import check_name

from .conftest import hand_request


@pytest.mark.parametrize("value", ["../x", "/tmp/x", "a/b", "a\\b", "a\0b", "..", ".", "", ".hidden", "x" * 201])
def test_check_name_refuses_anything_but_a_plain_name(value):
    with pytest.raises(ParamsError, match=r"^params: ref: "):
        check_name("ref", value)


def run(tmp_path, raw: dict, capsys, *args: str) -> tuple[int, str]:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code = main(["run", str(params), "--reports-dir", str(tmp_path / "reports"), *args])
    return code, capsys.readouterr().err.strip()


def nothing_written(tmp_path, *allowed: str) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cases.csv", "params.yaml", *allowed])


@pytest.mark.parametrize("ref", ["../x", "/tmp/escape", "a\0b", "reports/../../x"])
def test_a_ref_that_leaves_reports_is_refused(tmp_path, hand_csv, capsys, ref):
    code, err = run(tmp_path, hand_request(hand_csv, ref=ref), capsys)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"foikit: error: {tmp_path}/params.yaml: ref: ") and repr(ref) in err
    nothing_written(tmp_path)


@pytest.mark.parametrize("planted", ["01.FOI.99.000001", ".failures"])
def test_a_symlink_out_of_reports_is_refused_before_anything_runs(tmp_path, hand_csv, capsys, planted):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / planted).symlink_to(outside, target_is_directory=True)

    code, err = run(tmp_path, hand_request(hand_csv), capsys, "--force")

    assert code == 1 and len(err.splitlines()) == 1, err
    assert f"{planted!r}: {reports / planted} leads outside {reports} (through a symlink)" in err
    assert [p.name for p in outside.iterdir()] == ["keep.txt"] and (outside / "keep.txt").read_text() == "untouched"
    assert sorted(p.name for p in reports.iterdir()) == [planted]
    nothing_written(tmp_path, "outside", "reports")  # no .foikit-work: refused before the workspace


def test_a_report_folder_with_a_nul_is_refused(tmp_path, hand_csv):
    from foikit.run.execute import run_request

    with pytest.raises(ParamsError, match=r"^foikit run: reports_dir: .* contains a NUL character"):
        run_request(tmp_path / "params.yaml", reports_dir="reports\0x")


@pytest.mark.parametrize("ref", ["../escape", "/tmp/escape", "a\0b", "sub/x"])
def test_foikit_new_keeps_the_params_file_in_params(tmp_path, capsys, monkeypatch, ref):
    monkeypatch.setenv("FOIKIT_REF_PATTERN", ".*")  # even a permissive pattern cannot escape
    monkeypatch.chdir(tmp_path)
    code = main(["new", ref, "--template", "conduct_allegations"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("foikit: error: foikit new: ref: ") and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_foikit_new_refuses_a_symlinked_params_file_and_a_template_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (tmp_path / "params").mkdir()
    os.symlink(victim, tmp_path / "params" / "01.FOI.25.000123.yaml")
    assert main(["new", "01.FOI.25.000123", "--template", "conduct_allegations", "--force"]) == 1
    assert "leads outside params (through a symlink)" in capsys.readouterr().err
    assert victim.read_text() == "untouched"
    assert main(["new", "01.FOI.25.000124", "--template", "../notebooks/x"]) == 1
    assert "foikit new: template: '../notebooks/x' is not a plain name" in capsys.readouterr().err
