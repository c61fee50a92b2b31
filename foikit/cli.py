"""`foikit` command line: argument parsing only; the work is done by the package API."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence

from foikit.exceptions import FoikitError


def _say(args: argparse.Namespace) -> tuple[Callable[[str], None], Callable[[str], None] | None]:
    """Where a command's messages go: (log, progress). ``--quiet``: neither (errors and the result still
    print). Progress (each step, and the template's cells) shows on a terminal, or with FOIKIT_PROGRESS=1;
    FOIKIT_PROGRESS=0 turns it off (a CI log keeps the one-line messages only)."""
    if getattr(args, "quiet", False):
        return (lambda _msg: None), None

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    wanted = os.environ.get("FOIKIT_PROGRESS")
    shown = wanted == "1" or (wanted != "0" and sys.stderr.isatty())
    return log, ((lambda msg: log(f"foikit: {msg}")) if shown else None)


def _run(args: argparse.Namespace) -> int:
    from foikit.request.params import load_request
    from foikit.run.paths import check_path

    # The params first, before the engine's imports (seconds on a loaded machine): a typo is reported at once.
    load_request(check_path("params", args.params, "foikit run"))
    from foikit.run.execute import run_request

    log, progress = _say(args)
    result = run_request(args.params, reports_dir=args.reports_dir, notebooks_dir=args.notebooks,
                         force=args.force, snapshot=not args.no_snapshot, log=log, timeout=args.timeout,
                         ignore=args.ignore, progress=progress)
    if result.status == "reproduced":
        print(f"{result.path}: already holds this response; reproduced byte for byte, nothing changed")
    else:
        ref = result.path.name
        print(f"{result.path}: draft written (not published, not in the ledger); read its report.html, then "
              f"foikit publish {ref} --reviewer NAME" + (f" --reports-dir {args.reports_dir}"
                                                         if args.reports_dir != "reports" else ""))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from foikit.run.execute import publish_draft

    log, progress = _say(args)
    result = publish_draft(args.ref, args.reviewer, reports_dir=args.reports_dir, log=log, progress=progress)
    if result.status == "reproduced":
        print(f"{result.path}: already holds this response; nothing changed (the draft is removed)")
    elif result.status == "superseded":
        print(f"{result.path}: published, reviewed by {args.reviewer}; the earlier report is kept as "
              f"{result.previous} and stays in the ledger")
    else:
        print(f"{result.path}: published, reviewed by {args.reviewer}; it is in the ledger")
    return 0


def _discard(args: argparse.Namespace) -> int:
    from foikit.run.execute import discard_draft

    print(f"{discard_draft(args.ref, reports_dir=args.reports_dir)}: draft discarded; nothing published changed")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from foikit.run.verify import verify_all, verify_in_recorded_environment, verify_report

    if args.env:
        if args.all:
            raise FoikitError("verify --env: one report at a time (not with --all)")
        lines, code = verify_in_recorded_environment(args.report, notebooks_dir=args.notebooks, wheels=args.wheels,
                                                     python=args.python, log=lambda m: print(m, file=sys.stderr))
        print("\n".join(lines))
        return code
    if args.wheels or args.python:
        raise FoikitError("verify: --wheels and --python are for --env")
    if not args.all:
        result = verify_report(args.report, notebooks_dir=args.notebooks)
        print("\n".join(result.lines()))
        return 0 if result.ok else 1
    from tqdm import tqdm

    from foikit.run.verify import find_reports

    with tqdm(total=len(find_reports(args.report)), desc="verifying", unit="report", file=sys.stderr,
              disable=args.quiet) as bar:
        results = verify_all(args.report, jobs=args.jobs, notebooks_dir=args.notebooks,
                             progress=lambda _r: bar.update())
    width = max([len(str(r.report)) for r in results] + [6])
    print(f"{'report':<{width}}  status      details")
    for r in results:
        detail = r.details()
        print(f"{r.report!s:<{width}}  {r.status:<10}  {detail[0] if detail else ''}")
        for more in detail[1:]:
            print(f"{'':<{width}}  {'':<10}  {more}")
    bad = sum(not r.ok for r in results)
    print(f"{len(results) - bad} reproduced, {bad} not reproduced")
    return 0 if results and not bad else 1


def _keygen(args: argparse.Namespace) -> int:
    from foikit.run.signing import KEYS_DIR, generate_key

    private, public, kid = generate_key(args.key)
    print(f"{private}: signing key written (private: keep it, mode 0600); key id {kid}")
    print(f"{public}: its public key: give it to auditors (e.g. commit it as {KEYS_DIR}/<name>.pub)")
    return 0


def _templates(args: argparse.Namespace) -> int:
    from foikit.run.scaffold import list_templates

    for info in list_templates(args.notebooks):
        print(f"{info.name}: {info.title}")
        for name, value in info.defaults.items():
            shown = repr(value)
            print(f"    {name} = {shown if len(shown) < 70 else shown[:67] + '...'}")
    return 0


def _new(args: argparse.Namespace) -> int:
    from foikit.run.scaffold import scaffold

    path = scaffold(args.ref, args.template, notebooks_dir=args.notebooks, params_dir=args.params_dir,
                    force=args.force)
    print(f"{path}: written from template {args.template}; edit it, then: foikit run {path}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from foikit.datasets.synth import generate, write

    path = write(generate(rows=args.rows, seed=args.seed), args.out)
    print(f"{path}: wrote synthetic case data (seed {args.seed})")
    return 0


def _ledger(args: argparse.Namespace) -> int:
    from pathlib import Path

    from foikit.ledger.store import LEDGER_DIR, ledger_table, load_ledger

    folder = Path(args.reports_dir)
    ledger = load_ledger(folder, folder.resolve().parent / LEDGER_DIR)
    for u in ledger.unreadable:  # published, but not in the list: said, never skipped silently
        print(f"{u.path}: cannot be read as a ledger entry ({u.reason}); dataset "
              f"{u.dataset or 'unknown'}", file=sys.stderr)
    table = ledger_table(ledger)
    if args.dataset:
        table = table[table["dataset"] == args.dataset]
    if table.empty:
        print(f"{folder}: nothing published yet" + (f" from {args.dataset}" if args.dataset else ""))
        return 0
    for dataset, rows in table.groupby("dataset", sort=True):
        print(f"dataset {dataset}:")
        print(rows.drop(columns="dataset").to_string(index=False))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from foikit.ledger.joint import audit_report
    from foikit.request.params import DataSource
    from foikit.source.data import open_source

    data = open_source(DataSource(path=args.data)) if args.data else None
    result = audit_report(args.report, data, ignore=args.ignore)
    print(f"{args.report}: published before it: {', '.join(result.before) or 'nothing'}; "
          f"after it: {', '.join(result.after) or 'nothing'}")
    for line in result.lines:
        print(line)
    if not result.jointly:
        print(f"{args.report}: counts distinct units only: nothing to audit jointly")
        return 0
    print(f"{args.report}: {'protected' if result.passed_all else 'NOT protected'} against everything published")
    return 0 if result.passed_all else 1


def _site(args: argparse.Namespace) -> int:
    from foikit.publish.site import build_site
    from foikit.run.paths import check_path

    out = check_path("--out", args.out, "foikit site")
    responses = build_site(check_path("reports", args.reports, "foikit site"), out)
    print(f"{out}: disclosure log of {len(responses)} published responses written (open {out}/index.html)")
    return 0


def _check_proof(args: argparse.Namespace) -> int:
    from foikit.run.proof import check_report, proof_notes

    failures = check_report(args.report)
    notes = proof_notes(args.report)
    for line in [*failures, *(f"note: {n}" for n in notes)]:
        print(line)
    print(f"{args.report}: {'NOT proved' if failures else 'proved'}: "
          + (f"{len(failures)} failures" if failures else "every witness holds and every withheld small count "
             "has a witness for every value its rule requires" + (" (on its own only: see the note)" if notes
                                                                   else "")))
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foikit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="answer a request: run its template and write the draft drafts/<ref>/, "
                         "audited against everything published (nothing enters the ledger)")
    run.add_argument("params", help="params/<ref>.yaml")
    run.add_argument("--reports-dir", default="reports", help="where reports live (default: reports)")
    run.add_argument("--notebooks", default=None, help="folder of templates (default: notebooks)")
    run.add_argument("--force", action="store_true",
                     help="make a draft that supersedes a differing published report when published (the "
                          "earlier one is kept as <ref>.vN)")
    run.set_defaults(func=_run)
    run.add_argument("--ignore", action="append", default=[], metavar="REF",
                     help="go on although the earlier report REF cannot be read as a ledger entry; it is "
                          "listed as not checked in the record (repeatable)")

    run.add_argument("--quiet", action="store_true", help="print only errors and the result (no progress)")
    run.add_argument("--no-snapshot", action="store_true",
                     help="store only the hash of the input extract, not the extract itself")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="seconds one template cell may run before the run is stopped "
                          "(default: $FOIKIT_CELL_TIMEOUT, else 3600)")

    publish = sub.add_parser("publish", help="publish a reviewed draft: re-check it against the ledger, record "
                             "the reviewer, sign it and move it to reports/<ref>/ (the only way into the ledger)")
    publish.add_argument("ref", help="the request reference (its draft is drafts/<ref>/)")
    publish.add_argument("--reviewer", required=True, metavar="NAME",
                         help="the second person who reviewed the draft and approves its disclosure")
    publish.add_argument("--reports-dir", default="reports", help="where reports live (default: reports)")
    publish.add_argument("--quiet", action="store_true", help="print only errors and the result")
    publish.set_defaults(func=_publish)

    discard = sub.add_parser("discard", help="remove the draft drafts/<ref>/ (nothing published changes)")
    discard.add_argument("ref", help="the request reference")
    discard.add_argument("--reports-dir", default="reports", help="where reports live (default: reports)")
    discard.set_defaults(func=_discard)

    verify = sub.add_parser("verify", help="re-execute a past report and compare every published cell")
    verify.add_argument("report", help="reports/<ref> (or, with --all, the reports folder)")
    verify.add_argument("--all", action="store_true", help="verify every report under the folder")
    verify.add_argument("--jobs", type=int, default=1, help="reports verified in parallel (with --all)")
    verify.add_argument("--notebooks", default=None, help="folder of templates (default: notebooks)")
    verify.add_argument("--env", action="store_true",
                        help="re-execute in a new virtual environment holding exactly the distributions the "
                             "report recorded (installed from the package index, or --wheels)")
    verify.add_argument("--wheels", default=None, metavar="DIR",
                        help="with --env: install only from this folder of wheels (air-gapped)")
    verify.add_argument("--python", default=None, metavar="PATH",
                        help="with --env: the interpreter the environment is made with (default: this one)")
    verify.add_argument("--quiet", action="store_true", help="no progress bar (with --all)")
    verify.set_defaults(func=_verify)

    keygen = sub.add_parser("keygen", help="make the Ed25519 key pair that signs new reports")
    keygen.add_argument("--key", default=None, metavar="PATH",
                        help="where the private key goes (default: $FOIKIT_SIGNING_KEY, else signing-key.pem in "
                             "the user's config folder); the public key is written beside it as <name>.pub")
    keygen.set_defaults(func=_keygen)

    templates = sub.add_parser("templates", help="list the request types (templates) and their parameters")
    templates.add_argument("--notebooks", default=None, help="folder of templates (default: notebooks)")
    templates.set_defaults(func=_templates)

    new = sub.add_parser("new", help="write params/<ref>.yaml for a new request, every field commented")
    new.add_argument("ref", help="the request reference, e.g. 01.FOI.25.000123")
    new.add_argument("--template", required=True, help="the request type (see foikit templates)")
    new.add_argument("--params-dir", default="params", help="where params files live (default: params)")
    new.add_argument("--notebooks", default=None, help="folder of templates (default: notebooks)")
    new.add_argument("--force", action="store_true", help="overwrite an existing params file")
    new.set_defaults(func=_new)

    ledger = sub.add_parser("ledger", help="list what has been published, per dataset and period")
    ledger.add_argument("--reports-dir", default="reports", help="the reports folder (default: reports)")
    ledger.add_argument("--dataset", default=None, help="only this dataset")
    ledger.set_defaults(func=_ledger)
    audit = sub.add_parser("audit", help="re-run the joint disclosure audit of a past report against "
                           "everything published before and after it")
    audit.add_argument("report", help="reports/<ref>")
    audit.add_argument("--data", default=None, help="today's case data (default: the source its params name)")
    audit.add_argument("--ignore", action="append", default=[], metavar="REF",
                       help="go on although the report REF cannot be read as a ledger entry (repeatable)")
    audit.set_defaults(func=_audit)
    proof = sub.add_parser("check-proof", help="check a report's witnesses (witnesses.json) against its "
                           "published.csv: every withheld small count can take every value its rule requires")
    proof.add_argument("report", help="reports/<ref>")
    proof.set_defaults(func=_check_proof)
    site = sub.add_parser("site", help="build the disclosure log: a static, offline website of every published "
                          "response (letter, tables, downloads, an Atom feed, a page per dataset), from the "
                          "published files only")
    site.add_argument("reports", help="the reports folder, e.g. reports/")
    site.add_argument("--out", required=True, help="the site folder: new, empty, or a site foikit site built "
                      "(replaced whole)")
    site.set_defaults(func=_site)
    synth = sub.add_parser("synth", help="write synthetic conduct-allegation case data")
    synth.add_argument("--rows", type=int, default=None, help="number of rows (default: natural volumes)")
    synth.add_argument("--seed", type=int, default=20231, help="random seed (default: 20231)")
    synth.add_argument("--out", required=True, help="output file, .csv or .parquet")
    synth.set_defaults(func=_synth)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _interrupted() -> str:
    """The one line for an interrupted command: true whether or not a report had just been published."""
    published = getattr(sys.modules.get("foikit.run.execute"), "PUBLISHED", [])
    if not published:
        return "foikit: interrupted; nothing written"
    last = published[-1]
    kept = f" (the earlier report is kept as {last.previous})" if last.previous else ""
    return f"foikit: interrupted after {last.path} was written in full{kept}"


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM and Ctrl-C stop a command the same way, from its first moment: the run cleans up as it unwinds
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except FoikitError as exc:
        from foikit.source.credentials import scrub

        print(f"foikit: error: {scrub(exc.message())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_interrupted(), file=sys.stderr, flush=True)
        if argv is None:  # the command itself, not a caller in this process
            # The run has cleaned up; skip the interpreter's teardown, where nbclient's atexit hook would
            # try to shut down the kernel already stopped (retries, asyncio tracebacks).
            sys.stdout.flush()
            os._exit(130)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
