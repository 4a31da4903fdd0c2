"""The `trialbridge` command: a thin layer that parses options, calls one pipeline function and renders.

Exit codes: 0 all good; 1 outputs written but conformance errors found; 2 bad input or usage (nothing
written); 3 an internal error of trialbridge (nothing written; the traceback is printed to report it).
"""
from __future__ import annotations

import argparse
import sys
import traceback
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

from trialbridge.converters import pipeline
from trialbridge.converters.outdir import OutputRefused, cleanup_after
from trialbridge.converters.processes import interrupt_message, raise_on_signals, supervise
from trialbridge.converters.report import findings_json_text, print_findings
from trialbridge.schemas.findings import Finding, finding

EXIT_OK, EXIT_CONFORMANCE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def _version() -> str:
    try:
        return version("trialbridge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and our own wording on a usage error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print_findings([finding("CLI-USAGE", self.prog, detail=message)], sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least `minimum`, with a message that says what was wrong."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
        return value
    return parse


def _releases(text: str) -> tuple[str, ...]:
    """`R4,R5` -> ("R4", "R5"); `none` -> ()."""
    if text.strip().lower() == "none":
        return ()
    releases = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    unknown = [r for r in releases if r not in ("R4", "R5")]
    if unknown or not releases:
        raise argparse.ArgumentTypeError(f"expected R4, R5, R4,R5 or none, got {text!r}")
    return releases


def _dataset_json_formats(text: str) -> tuple[str, ...]:
    """`json,ndjson` -> ("json", "ndjson")."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not formats or any(f not in ("json", "ndjson") for f in formats):
        raise argparse.ArgumentTypeError(f"expected json, ndjson or json,ndjson, got {text!r}")
    return formats


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date or date-time such as 2015-07-23T00:00:00, got {text!r}") from None


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trialbridge",
        description="Turn a clinical trial's native records into CDISC SDTM (XPT v5 + Define-XML) and HL7 FHIR.",
    )
    parser.add_argument("--version", action="version", version=f"trialbridge {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    report = argparse.ArgumentParser(add_help=False)
    report.add_argument("--format", choices=("table", "json"), default="table",
                        help="how findings are printed: a table for people (default) or JSON on stdout")
    report.add_argument("--max-shown", type=_positive_int, default=20, metavar="N",
                        help="at most N findings shown per rule in the table (all are counted; default 20)")
    report.add_argument("--verbose", action="store_true",
                        help="also show notes (info findings: transliterations, lengths set, ...) in the table")
    report.add_argument("--quiet", action="store_true",
                        help="no progress display (it is shown only on a terminal anyway)")
    report.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: one JSON object per line on stderr for each stage and the end, "
                             "instead of the progress display, table and summary")
    report.add_argument("--waivers", type=Path, default=None, metavar="FILE",
                        help="explanations (CSV or YAML: rule, dataset, variable, pattern, justification, author, "
                             "date); matching findings are marked explained and no longer set the exit code")

    convert = commands.add_parser("convert", parents=[report], help="convert a native record folder",
                                  description="Read and check a native record folder (registry.json + CRF CSVs) and write the standard outputs into --out.")
    convert.add_argument("input", type=Path, nargs="+", metavar="INPUT",
                         help="the native record folder; several folders, or a folder of them, convert each into "
                              "DIR/<name>/ (a batch)")
    convert.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                         help="batch: convert N studies at a time in worker processes (default 1)")
    convert.add_argument("--out", type=Path, required=True, metavar="DIR",
                         help="output folder: new, empty, or an earlier trialbridge output (with --force); never the input")
    convert.add_argument("--force", action="store_true",
                         help="replace an earlier trialbridge output in --out (only files its manifest lists)")
    convert.add_argument("--fhir", type=_releases, default=("R4", "R5"), metavar="RELEASES",
                         help="FHIR releases to write, comma-separated: R4, R5, both (default R4,R5) or none")
    convert.add_argument("--dataset-json", type=_dataset_json_formats, nargs="?", const=("json", "ndjson"), default=(),
                         metavar="FORMATS",
                         help="also write CDISC Dataset-JSON v1.1 beside the XPT files: json, ndjson or json,ndjson "
                              "(the default when the option is given without a value)")
    convert.add_argument("--spec", type=Path, default=None, metavar="SPEC",
                         help="the study mapping specification: a folder of CSV tables or an .xlsx workbook "
                              "(default: INPUT/spec/ or INPUT/spec.xlsx)")
    convert.add_argument("--bundle-entries", type=_positive_int, default=None, metavar="N",
                         help="at most N entries per FHIR Bundle (default 50: Medplum's limit of updates per transaction)")
    convert.add_argument("--bundle-type", choices=("transaction", "batch"), default="transaction",
                         help="FHIR Bundle type: transaction (all or nothing per Bundle; default) or batch")
    convert.add_argument("--fhir-workers", type=_positive_int, default=None, metavar="N",
                         help="processes that build and check the FHIR resources (default: the CPUs, at most 8); "
                              "fewer hold less memory, the files are the same")
    convert.add_argument("--created", type=_timestamp, default=None, metavar="ISO-DATETIME",
                         help="creation timestamp stamped into every output (default: the registry record's last update)")
    convert.add_argument("--ascii-placeholder", action="store_true",
                         help="in XPT values, replace characters with no ASCII form (emoji, CJK, control characters) "
                              "by [U+XXXX] (each reported) instead of stopping the package; see README")

    registry = commands.add_parser(
        "registry", parents=[report], help="registry records -> trial design datasets, FHIR study, PRS XML",
        description="Convert ClinicalTrials.gov records (API v2 JSON studies or search pages, classic v1 JSON, legacy "
                    "<clinical_study> XML; files or folders) without subject data: each study gets its own folder in "
                    "--out (named by NCT number) with SDTM TS, TA, TE, TI (XPT + define.xml), the FHIR ResearchStudy "
                    "bundle and, with --prs, the PRS protocol record XML. One bad record does not stop the others.")
    registry.add_argument("records", type=Path, nargs="+", metavar="RECORD", help="registry record files or folders")
    registry.add_argument("--out", type=Path, required=True, metavar="DIR",
                          help="output folder: new, empty, or an earlier trialbridge output (with --force); never an input")
    registry.add_argument("--fhir", type=_releases, default=("R4", "R5"), metavar="RELEASES",
                          help="FHIR releases to write, comma-separated: R4, R5, both (default R4,R5) or none")
    registry.add_argument("--prs", action="store_true", help="also write the ClinicalTrials.gov PRS protocol record XML")
    registry.add_argument("--created", type=_timestamp, default=None, metavar="ISO-DATETIME",
                          help="creation timestamp of every output (default: each record's last update)")
    registry.add_argument("--force", action="store_true", help="replace an earlier trialbridge output in --out")
    registry.add_argument("--no-ascii-placeholder", dest="ascii_placeholder", action="store_false",
                          help="stop a study's SDTM package on a character with no ASCII form instead of writing [U+XXXX]")

    validate = commands.add_parser("validate", parents=[report], help="check a native folder or an output",
                                   description="Check PATH without writing anything: a native record folder, an SDTM package folder "
                                               "(XPT files, with its define.xml if present) or a convert output folder, or a define.xml file.")
    validate.add_argument("path", type=Path, metavar="PATH")
    validate.add_argument("--report", type=Path, default=None, metavar="DIR",
                          help="write report.json, report.html and report.xlsx into DIR: new, empty, or an earlier "
                               "report (with --force)")
    validate.add_argument("--force", action="store_true", help="replace the earlier report in --report DIR")
    validate.add_argument("--sdtmig", choices=("3.2", "3.3", "3.4"), default=None,
                          help="SDTMIG version to check against when the package does not say (see README for "
                               "the versions this installation has metadata for)")
    validate.add_argument("--ct", default=None, metavar="DATE",
                          help="CDISC CT version (YYYY-MM-DD) when the package does not say")
    validate.add_argument("--fhir-release", choices=("R4", "R5"), default=None,
                          help="FHIR release of a bundle or NDJSON (default: detected)")

    read = commands.add_parser("read", parents=[report], help="read an EDC export into raw datasets (CSV)",
                               description="Read an EDC export (CDISC ODM 1.3 XML from REDCap, OpenClinica, ...; or a REDCap "
                                           "CSV export with its data dictionary) and write each raw dataset as CSV with "
                                           "counts.json (values read = values written, per form) into --out.")
    read.add_argument("source", type=Path, metavar="RAW_FILE")
    read.add_argument("--dictionary", type=Path, default=None, metavar="CSV",
                      help="REDCap data dictionary of a CSV export (default: the one dictionary CSV beside it)")
    read.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    read.add_argument("--force", action="store_true",
                      help="replace an earlier trialbridge output in --out (only files its manifest lists)")

    upload = commands.add_parser("upload", parents=[report], help="post a convert output's FHIR Bundles to a FHIR server",
                                 description="Post the FHIR Bundles of OUT_DIR (fhir/<release>/bundles.ndjson, one Bundle per line) "
                                             "to the FHIR server at --server, in order, with retries; stop at the first refusal. "
                                             "Idempotent: every resource is PUT at its stable id.")
    upload.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a convert output folder (or its fhir/<release> folder)")
    upload.add_argument("--server", required=True, metavar="URL", help="the server's FHIR base URL, e.g. http://localhost:8080/fhir")
    upload.add_argument("--release", choices=("R4", "R5"), default=None,
                        help="the release to post (default: the server's, from GET [base]/metadata)")
    upload.add_argument("--retries", type=_non_negative_int, default=5, metavar="N",
                        help="retries of a Bundle on a connection error, 429 or 5xx, with doubling back-off (default 5)")
    upload.add_argument("--timeout", type=_positive_int, default=300, metavar="SECONDS", help="per request (default 300)")
    spec = commands.add_parser("spec", help="write a starting study mapping spec, or check one",
                               description="Help with a study mapping specification: `spec init` writes a starting spec from raw "
                                           "extracts, `spec check` reports every problem of a spec (and its raw data) at once.")
    spec_commands = spec.add_subparsers(dest="spec_command", metavar="SPEC_COMMAND", parser_class=_Parser)
    spec_check = spec_commands.add_parser("check", parents=[report], help="report every problem of a spec at once",
                                          description="Check SPEC (a folder of CSV tables, an .xlsx workbook or sdtm.oak's spec CSVs) "
                                                      "and, with RAW_DIR (default: the folder holding SPEC as spec/ or spec.xlsx), "
                                                      "the raw datasets against it. Writes nothing; exit 2 when an error is found.")
    spec_check.add_argument("spec", type=Path, metavar="SPEC")
    spec_check.add_argument("raw", type=Path, nargs="?", default=None, metavar="RAW_DIR")
    spec_init = spec_commands.add_parser("init", parents=[report], help="write a starting spec from raw extracts",
                                         description="Write a starting spec (CSV tables) for the raw datasets of RAW_DIR into --out.")
    spec_init.add_argument("raw", type=Path, metavar="RAW_DIR")
    spec_init.add_argument("--out", type=Path, required=True, metavar="SPEC",
                           help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    spec_init.add_argument("--force", action="store_true", help="replace an earlier output in --out")

    synth = commands.add_parser("synth", help="generate a synthetic REVALLO-like native record folder",
                                description="Write N synthetic subjects that follow the REVALLO protocol rules; deterministic for a seed.")
    synth.add_argument("--subjects", type=_positive_int, required=True, metavar="N")
    synth.add_argument("--seed", type=_non_negative_int, required=True, metavar="S")
    synth.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    synth.add_argument("--force", action="store_true",
                       help="replace an earlier trialbridge output in --out (only files its manifest lists)")
    return parser


def _render(findings: list[Finding], args: argparse.Namespace) -> None:
    if getattr(args, "log_format", "text") == "json" and args.format != "json":
        return  # the JSON log's "done" event carries the counts; the table would break the one-object-per-line
    if args.format == "json":  # JSON is UTF-8 (RFC 8259) whatever the terminal's encoding
        text = findings_json_text(findings)
        sys.stdout.flush()
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(text.encode("utf-8"))
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(text)
    elif findings:
        print_findings(findings, sys.stderr, args.max_shown, show_info=args.verbose)


def _progress(args: argparse.Namespace):
    from trialbridge.converters.progress import make_progress

    return make_progress(quiet=args.quiet or args.format == "json", log_format=args.log_format)


def _finish_log(progress, result: pipeline.RunResult) -> None:
    """The JSON log's last line: exit code, counts by severity and status, files written."""
    from collections import Counter

    severities = Counter(f.severity for f in result.findings)
    progress.event("result", exit_code=result.exit_code, errors=severities["error"], warnings=severities["warning"],
                   notes=severities["info"], explained=sum(1 for f in result.findings if f.explanation is not None),
                   outputs=len(result.outputs))


def main(argv: Sequence[str] | None = None) -> int:
    """The command. Run as a program (`argv` None), SIGINT/SIGTERM stop it cleanly (exit 130/143, one line)
    and the writing commands run supervised (`converters/processes.py`): killed outright, they still leave
    nothing behind."""
    args = build_parser().parse_args(argv)
    if getattr(args, "out", None) is not None:
        interrupt_message(f"nothing written to {args.out}")
    if argv is not None:          # called from Python (tests, the API): no signal handlers, no fork
        return _guarded(args)
    if args.command in ("convert", "synth"):
        return supervise(lambda: _guarded(args), lambda pid: _killed(args, pid))
    raise_on_signals()
    return _guarded(args)


def _guarded(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Exception as error:  # a defect of ours, not bad input: say so, with the traceback to report
        traceback.print_exc(file=sys.stderr)
        print_findings([finding("PIPELINE-INTERNAL", args.command or "trialbridge", (),
                                stage=f"running '{args.command}'", error=f"{type(error).__name__}: {error}")],
                       sys.stderr)
        return EXIT_INTERNAL


def _killed(args: argparse.Namespace, pid: int) -> None:
    """The supervised run was killed outright: remove what it left beside --out, say so in one line."""
    cleanup_after(Path(args.out), pid)
    print(f"trialbridge: the run (process {pid}) was killed; nothing written to {args.out}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "synth":
        try:
            counts = pipeline.synthesise(args.out, args.subjects, args.seed, force=args.force)
        except OutputRefused as refused:
            print_findings(refused.findings, sys.stderr)
            print(f"{args.out}: refused, nothing written", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"wrote {args.subjects} subject(s) to {args.out}")
        for name, rows in counts.items():
            print(f"  {name:24} {rows:>10,} rows")
        return EXIT_OK
    if args.command == "upload":
        from trialbridge.converters.upload import upload

        tally, findings = upload(args.out_dir, args.server, args.release, timeout=args.timeout, retries=args.retries,
                                 report=lambda line: print(line, file=sys.stderr, flush=True))
        _render(findings, args)
        if args.format == "table":
            print(findings[-1].message, file=sys.stderr)
        if any(f.rule == "UPLOAD-NO-BUNDLES" for f in findings):
            return EXIT_BAD_INPUT
        return EXIT_CONFORMANCE if any(f.severity == "error" for f in findings) else EXIT_OK
    if args.command == "read":
        from trialbridge.converters.raw_output import read_command

        result = read_command(args.source, args.out, args.dictionary, force=args.force)
        _render(result.findings, args)
        if args.format == "table":
            print(result.summary, file=sys.stderr)
        return result.exit_code
    if args.command == "spec":
        return _spec(args)
    if args.command == "registry":
        from trialbridge.converters.registry_command import run_registry, summary_table

        run = run_registry(args.records, args.out, args.fhir, args.prs, args.created, args.ascii_placeholder, args.force)
        _render(run.findings, args)
        print(summary_table(run) if run.rows else f"{args.out}: refused, nothing written", file=sys.stderr)
        return run.exit_code
    waivers = []
    if getattr(args, "waivers", None) is not None:
        from trialbridge.converters.readers.waivers import read_waivers

        waivers, problems = read_waivers(args.waivers)
        if problems:
            _render(problems, args)
            return EXIT_BAD_INPUT
    if args.command == "validate":
        from trialbridge.converters.validate import validate

        progress = _progress(args)
        result = validate(args.path, report=args.report, waivers=waivers, sdtmig=args.sdtmig, ct=args.ct,
                          fhir_release=args.fhir_release, tool_version=_version(), force=args.force,
                          progress=progress)
        _finish_log(progress, result)
        _render(result.findings, args)
        if args.format == "table" and args.log_format == "text":
            print(result.summary, file=sys.stderr)
        return result.exit_code
    progress = _progress(args)
    from trialbridge.converters.batch import studies_in

    if len(args.input) > 1 or studies_in(args.input) != list(args.input):
        return _batch(args, waivers, progress)
    args.input = args.input[0]
    result = pipeline.convert(args.input, args.out, created=args.created, fhir_releases=args.fhir,
                              bundle_entries=args.bundle_entries, bundle_type=args.bundle_type,
                              ascii_placeholder=args.ascii_placeholder, dataset_json=args.dataset_json,
                              spec=args.spec, force=args.force, waivers=waivers, progress=progress,
                              fhir_workers=args.fhir_workers)
    _finish_log(progress, result)
    _render(result.findings, args)
    if args.format == "table" and args.log_format == "text":
        print(result.summary, file=sys.stderr)
    return result.exit_code


def _batch(args: argparse.Namespace, waivers: list, progress) -> int:
    """Several studies: each into --out/<name>/, --jobs at a time; the table and the worst exit code."""
    import json

    from trialbridge.converters.batch import convert_batch

    result = convert_batch(args.input, args.out, jobs=args.jobs, progress=progress, created=args.created,
                           fhir_releases=args.fhir, ascii_placeholder=args.ascii_placeholder,
                           dataset_json=args.dataset_json, force=args.force, waivers=waivers,
                           bundle_entries=args.bundle_entries, bundle_type=args.bundle_type, spec=args.spec,
                           fhir_workers=args.fhir_workers)
    progress.event("result", exit_code=result.exit_code, studies=len(result.runs),
                   failed=sum(1 for r in result.runs if r.exit_code >= 2), outputs=len(result.outputs))
    if args.format == "json":
        sys.stdout.write(json.dumps({"exit_code": result.exit_code, "studies": [
            {"study": r.name, "source": str(r.source), "out": str(r.out), "exit_code": r.exit_code, "errors": r.errors,
             "warnings": r.warnings, "seconds": round(r.seconds, 3), "reason": r.reason} for r in result.runs]},
            indent=2) + "\n")
    elif args.log_format == "text":
        print(result.summary, file=sys.stderr)
    return result.exit_code


def _spec(args: argparse.Namespace) -> int:
    """`spec check` and `spec init`: the library does the work (converters/spec_check.py, spec_init.py)."""
    if args.spec_command == "check":
        from trialbridge.converters.spec_check import check_spec

        result = check_spec(args.spec, args.raw)
        _render(result.findings, args)
        if args.format == "table":
            print(result.summary, file=sys.stderr)
        return result.exit_code
    if args.spec_command == "init":
        from trialbridge.converters.spec_init import init_spec
        from trialbridge.schemas.findings import has_errors

        findings, summary = init_spec(args.raw, args.out, force=args.force)
        _render(findings, args)
        if summary and args.format == "table":
            print(summary, file=sys.stderr)
        return EXIT_BAD_INPUT if has_errors(findings) else EXIT_OK
    print_findings([finding("CLI-USAGE", "trialbridge spec", detail="give a command: check SPEC [RAW_DIR], or init RAW_DIR --out SPEC")],
                   sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
