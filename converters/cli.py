"""The `trialbridge` command: a thin layer that parses options, calls one pipeline function and renders.

Exit codes: 0 all good; 1 outputs written but conformance errors found; 2 bad input or usage (nothing
written); 3 an internal error of trialbridge (nothing written; the traceback is printed to report it).

The commands and options are defined in `converters/cli_options.py`.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Sequence

from trialbridge.converters import pipeline
from trialbridge.converters.cli_options import (
    EXIT_BAD_INPUT, EXIT_CONFORMANCE, EXIT_INTERNAL, EXIT_OK, build_parser, tool_version,
)
from trialbridge.converters.outdir import OutputRefused, cleanup_after
from trialbridge.converters.processes import interrupt_message, raise_on_signals, supervise
from trialbridge.converters.reports.findings import findings_json_text, print_findings
from trialbridge.schemas.findings import Finding, finding


def _render(findings: list[Finding], args: argparse.Namespace) -> None:
    if getattr(args, "log_format", "text") == "json" and args.format != "json":
        return  # the JSON log's "done" event carries the counts; the table would break the one-object-per-line
    if args.format == "json":  # JSON is UTF-8 (RFC 8259) whatever the terminal's encoding
        text = findings_json_text(findings)
        sys.stdout.flush()
        if hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(text.encode("utf-8", "backslashreplace"))  # a path of non-UTF-8 bytes
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
        from trialbridge.converters.fhir.upload import upload

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
        from trialbridge.converters.registry.command import run_registry, summary_table

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
                          fhir_release=args.fhir_release, tool_version=tool_version(), force=args.force,
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
    """`spec check` and `spec init`: the library does the work (converters/spec_tools/check.py, init.py)."""
    if args.spec_command == "check":
        from trialbridge.converters.spec_tools.check import check_spec

        result = check_spec(args.spec, args.raw)
        _render(result.findings, args)
        if args.format == "table":
            print(result.summary, file=sys.stderr)
        return result.exit_code
    if args.spec_command == "init":
        from trialbridge.converters.spec_tools.init import init_spec
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
