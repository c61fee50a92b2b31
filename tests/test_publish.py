"""Draft, review, publish: `foikit run` makes a draft outside the ledger; `foikit publish` (a named second
person) is the only way into it, and refuses a draft that changed or whose joint audit is out of date."""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from foikit.cli import main
from foikit.run.signing import SIGNATURE
from foikit.run.verify import verify_report

from .conftest import REVIEWER
from .procs import REF, make_project, run, tree, work_left

OTHER = "01.FOI.99.000002"


@pytest.fixture(scope="module")
def drafted(tmp_path_factory) -> Path:
    """A project with a draft of REF and, over the same cases, a draft of OTHER; nothing published."""
    project = make_project(tmp_path_factory.mktemp("publish"))
    params = project / "params"
    raw = yaml.safe_load((params / f"{REF}.yaml").read_text(encoding="utf-8"))
    (params / f"{OTHER}.yaml").write_text(yaml.safe_dump({**raw, "ref": OTHER}, sort_keys=False), encoding="utf-8")
    for ref in (REF, OTHER):
        done = run(project) if ref == REF else run(project, params=f"params/{OTHER}.yaml")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{Path('drafts') / ref}: draft written (not published, not in "
                                      f"the ledger); read its report.html, then foikit publish {ref} --reviewer NAME")
    return project


@pytest.fixture
def project(drafted, tmp_path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(drafted, copy, symlinks=True)
    return copy


def publish(project: Path, ref: str, reviewer: str, capsys) -> tuple[int, str, str]:
    code = main(["publish", ref, "--reviewer", reviewer, "--reports-dir", str(project / "reports")])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_draft_is_outside_the_ledger(drafted, capsys):
    assert not (drafted / "reports").exists()
    # the second draft was made after the first, over the same cases, and was audited against nothing
    ledger = json.loads((drafted / "drafts" / OTHER / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["entries"] == []
    assert main(["ledger", "--reports-dir", str(drafted / "reports")]) == 0
    assert capsys.readouterr().out == f"{drafted / 'reports'}: nothing published yet\n"
    assert not (drafted / "drafts" / REF / SIGNATURE).exists()  # signed when published, with the review


def test_publish_records_the_reviewer_signs_and_enters_the_ledger(project, capsys):
    code, out, err = publish(project, REF, "  A.   Reviewer ", capsys)
    assert (code, err) == (0, "")
    report = project / "reports" / REF
    assert out == f"{report}: published, reviewed by   A.   Reviewer ; it is in the ledger\n"
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    review = manifest["review"]
    assert (review["reviewer"], review["published_by"], review["supersedes"]) == (REVIEWER, getpass.getuser(), None)
    assert review["published_at"] >= manifest["run"]["ended"]
    assert (report / SIGNATURE).is_file()
    assert not (project / "drafts" / REF).exists() and (project / "drafts" / OTHER).is_dir()
    assert work_left(project / ".foikit-work") == []
    checked = verify_report(report, execute=False)
    assert checked.problems == [] and checked.signature is not None and checked.signature.ok
    assert main(["ledger", "--reports-dir", str(project / "reports")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in rows[2:]] == [REF]  # after 'dataset cases:' and the header


def test_a_draft_audited_before_another_was_published_is_refused(project, capsys):
    assert publish(project, REF, REVIEWER, capsys)[0] == 0
    reports, drafts = tree(project / "reports"), tree(project / "drafts")
    code, out, err = publish(project, OTHER, REVIEWER, capsys)
    assert (code, out) == (1, "")
    assert err == (f"foikit: error: {project / 'reports' / OTHER}: nothing published: {REF} was published since the "
                   "draft was made, and its joint audit must include that: make the draft again (foikit run) and "
                   "review it\n")
    assert tree(project / "reports") == reports and tree(project / "drafts") == drafts


def test_the_analyst_who_made_the_draft_cannot_review_it(project, capsys):
    code, _, err = publish(project, REF, getpass.getuser().upper(), capsys)
    assert code == 1
    assert err == (f"foikit: error: --reviewer {getpass.getuser().upper()}: made the draft; a second person must "
                   "review it before it is published\n")
    assert not (project / "reports").exists()


@pytest.mark.parametrize(("reviewer", "message"), [
    ("", "--reviewer: '': give the reviewer's name (one line, up to 120 characters)"),
    ("A. \x1b[31mReviewer", r"--reviewer: 'A. \x1b[31mReviewer': give the reviewer's name"),
    ("x" * 121, "--reviewer: 'xxxxx"),
])
def test_a_reviewer_name_that_is_not_a_name_is_refused(project, capsys, reviewer, message):
    code, _, err = publish(project, REF, reviewer, capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"foikit: error: {message}"), err
    assert not (project / "reports").exists()


EDITED = "part,table,value\n"


@pytest.mark.parametrize(("change", "said"), [
    (lambda d: (d / "published.csv").write_text(EDITED, encoding="utf-8"),
     lambda d, recorded: (f"{d / 'published.csv'}: tampered (sha256 recorded {recorded['published.csv'][:12]}, "
                          f"now {hashlib.sha256(EDITED.encode()).hexdigest()[:12]})")),
    (lambda d: (d / "letter.html").unlink(), lambda d, _: f"{d / 'letter.html'}: missing"),
    (lambda d: (d / "extra.csv").write_text("1\n", encoding="utf-8"),
     lambda d, _: f"{d / 'extra.csv'}: a file that is not part of a report (a report holds only its own files)"),
], ids=["edited", "removed", "added"])
def test_a_draft_changed_after_it_was_made_is_refused(project, capsys, change, said):
    draft = project / "drafts" / REF
    recorded = json.loads((draft / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    change(draft)
    before = tree(project / "drafts")
    code, _, err = publish(project, REF, REVIEWER, capsys)
    assert code == 1
    assert err == (f"foikit: error: {draft}: changed since the draft was made ({said(draft, recorded)}); nothing "
                   "published: make it again with foikit run\n")
    assert not (project / "reports").exists() and tree(project / "drafts") == before


def test_publishing_without_a_draft_says_how_to_make_one(project, capsys):
    code, _, err = publish(project, "01.FOI.99.000777", REVIEWER, capsys)
    assert code == 1
    assert err == (f"foikit: error: {project / 'drafts' / '01.FOI.99.000777'}: no draft of 01.FOI.99.000777 "
                   "to publish; make one with foikit run params/01.FOI.99.000777.yaml\n")


def test_a_draft_can_be_discarded_and_verify_calls_a_draft_unreviewed(project, capsys):
    draft = project / "drafts" / OTHER
    checked = verify_report(draft, execute=False)
    assert (checked.status, checked.ok, checked.problems) == ("unsigned", False, [])
    assert checked.unreviewed == f"{draft / 'manifest.json'}: records no reviewer: a draft, not a report " \
        "published with foikit publish"
    assert checked.unreviewed in checked.details()
    assert main(["discard", OTHER, "--reports-dir", str(project / "reports")]) == 0
    assert capsys.readouterr().out == f"{project / 'drafts' / OTHER}: draft discarded; nothing published " \
        "changed\n"
    assert sorted(p.name for p in (project / "drafts").iterdir()) == [REF]
    assert main(["discard", OTHER, "--reports-dir", str(project / "reports")]) == 1
    assert "no draft of 01.FOI.99.000002" in capsys.readouterr().err


def test_a_draft_edited_with_its_manifest_to_match_is_refused_by_the_gate(project, capsys):
    """Hashes can be recomputed by whoever edits a draft (it is not signed): publish runs the gate again on
    the files as they are, against the draft's recorded extract and ledger."""
    draft = project / "drafts" / REF
    lines = (draft / "published.csv").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(",,[x]"))
    lines[at] = lines[at].removesuffix(",,[x]") + ",1,"  # a small count published
    (draft / "published.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = json.loads((draft / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"]["published.csv"] = hashlib.sha256((draft / "published.csv").read_bytes()).hexdigest()
    (draft / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    code, _, err = publish(project, REF, REVIEWER, capsys)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("foikit: error: leak check: published.csv: ") and "nothing was written" in err, err
    assert not (project / "reports").exists()


def test_a_draft_moved_into_reports_by_hand_stops_the_next_publication(project, capsys):
    """foikit publish is the way into the ledger: a draft moved into reports/ by hand (no review recorded) is
    not silently taken as published, nor silently left out: it stops every publication over its dataset."""
    (project / "reports").mkdir()
    shutil.move(project / "drafts" / REF, project / "reports" / REF)
    code, _, err = publish(project, OTHER, REVIEWER, capsys)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"foikit: error: {project / 'reports' / REF}: cannot be read as a ledger entry "
                          "(manifest.json records no reviewer: it was not published with foikit publish"), err
    assert f"--ignore {REF}" in err
    assert sorted(p.name for p in (project / "reports").iterdir()) == [REF]
