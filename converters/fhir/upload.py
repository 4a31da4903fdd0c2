"""A convert output (its `fhir/<release>/bundles.ndjson`) -> a FHIR server: each Bundle posted in order.

`upload(out_dir, server)` asks the server its FHIR version (`GET [base]/metadata`), picks the release
folder written for it (or the one given), then posts the Bundles of `bundles.ndjson` one by one, in file
order, to the server's base URL. Each answer is reported as it comes (one line per Bundle: HTTP status,
entries created and updated). A connection error, a timeout, 429 or 5xx (500, 502, 503, 504) is retried
with exponential back-off (`backoff` seconds, doubled each time, or the server's Retry-After), up to
`retries` times. Any other refusal stops the upload at once: the whole Bundle refused (4xx, with its
OperationOutcome), or one entry of a batch refused (its own OperationOutcome). The Bundles PUT every
resource at its stable id, so posting them again updates in place and creates nothing: upload is idempotent.
Only the standard library is used (urllib), so nothing more is installed.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from trialbridge.converters.fhir.bundle import BUNDLES
from trialbridge.schemas.findings import Finding, finding

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"
VERSIONS = {"4.0": "R4", "5.0": "R5"}  # CapabilityStatement.fhirVersion prefix -> release folder


@dataclass
class Tally:
    """What the server did with the Bundles posted so far."""

    bundles: int = 0
    entries: int = 0
    created: int = 0
    updated: int = 0
    lines: list[str] = field(default_factory=list)


class Refused(Exception):
    """The server answered with an error that retrying will not fix."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


class Unreachable(Exception):
    """No answer (or only retryable ones) after every retry."""


def _request(method: str, url: str, body: bytes | None, timeout: float,
             headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers or {}), error.read()


def call(method: str, url: str, body: bytes | None = None, *, timeout: float = 300, retries: int = 5,
         backoff: float = 1.0, headers: dict[str, str] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> tuple[int, Any]:
    """One HTTP exchange with retries: (status, parsed JSON body). Raises Refused or Unreachable."""
    wait, last = backoff, ""
    for attempt in range(retries + 1):
        try:
            status, answer_headers, data = _request(method, url, body, timeout, headers or {})
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            last = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        else:
            parsed = _json(data)
            if status < 400:
                return status, parsed
            if status not in RETRY_STATUSES:
                raise Refused(status, parsed)
            last = f"HTTP {status}"
            retry_after = str(answer_headers.get("Retry-After", ""))
            if retry_after.isdigit():
                wait = max(wait, float(retry_after))
        if attempt < retries:
            sleep(wait)
            wait *= 2
    raise Unreachable(f"{method} {url}: {last} (after {retries} retries)")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return {"text": data[:500].decode("utf-8", "replace")}


def outcome_text(body: Any) -> str:
    """The diagnostics of an OperationOutcome (or whatever the server said), on one line."""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or []
        return "; ".join(
            " ".join(str(part) for part in (i.get("severity"), i.get("code"), i.get("details", {}).get("text"),
                                             i.get("diagnostics"), "at " + ", ".join(i["expression"])
                                             if i.get("expression") else None) if part)
            for i in issues) or "OperationOutcome without issues"
    return json.dumps(body, ensure_ascii=False)[:500]


def server_release(base: str, **options: Any) -> str:
    """The release folder the server takes: its CapabilityStatement's fhirVersion (4.0.1 -> R4, 5.0.0 -> R5)."""
    _, statement = call("GET", f"{base}/metadata", **options)
    version = str((statement or {}).get("fhirVersion", ""))
    return VERSIONS.get(version[:3], "")


def release_folder(out_dir: Path, release: str) -> Path | None:
    """Where the release's Bundles are: OUT_DIR/fhir/<release>, OUT_DIR/<release> or OUT_DIR itself."""
    for folder in (out_dir / "fhir" / release, out_dir / release, out_dir):
        if (folder / BUNDLES).is_file():
            return folder
    return None


def bundles(folder: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, Bundle bytes) of each Bundle of the folder's bundles.ndjson, in file order."""
    with open(folder / BUNDLES, "rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, line.rstrip(b"\n")


def entry_counts(answer: Any) -> tuple[int, int, list[tuple[int, str, Any]]]:
    """(created, updated, refused entries as (index, status, outcome)) of a transaction/batch response."""
    created = updated = 0
    refused = []
    for index, entry in enumerate((answer or {}).get("entry") or []):
        response = entry.get("response") or {}
        status = str(response.get("status", ""))
        code = status.split(" ", 1)[0]
        if code == "201":
            created += 1
        elif code.startswith("2"):
            updated += 1
        else:
            refused.append((index, status, response.get("outcome")))
    return created, updated, refused


def post_bundles(folder: Path, base: str, report: Callable[[str], None] = print, **options: Any
                 ) -> tuple[Tally, list[Finding]]:
    """Post every Bundle of `folder` to `base` in order; stop at the first refusal."""
    tally = Tally()
    total = sum(1 for _ in bundles(folder))
    for number, body in bundles(folder):
        where = f"{folder.name}/{BUNDLES}:{number}"
        try:
            status, answer = call("POST", base, body, **options)
        except Refused as error:
            report(f"{where}: HTTP {error.status} refused: {outcome_text(error.body)}")
            return tally, [finding("UPLOAD-REFUSED", where, [outcome_text(error.body)], status=error.status,
                                   server=base, outcome=outcome_text(error.body), posted=tally.bundles)]
        except Unreachable as error:
            report(f"{where}: {error}")
            return tally, [finding("UPLOAD-UNREACHABLE", where, [str(error)], server=base, detail=str(error),
                                   posted=tally.bundles)]
        created, updated, refused = entry_counts(answer)
        tally.bundles += 1
        tally.entries += created + updated + len(refused)
        tally.created += created
        tally.updated += updated
        line = (f"{where} ({number}/{total}): HTTP {status} {(answer or {}).get('type', '')}, "
                f"{created + updated + len(refused)} entries: {created} created (201), {updated} updated or created in place (200)")
        report(line)
        if refused:
            index, entry_status, outcome = refused[0]
            text = f"entry {index}: {entry_status} {outcome_text(outcome) if outcome else ''}".strip()
            report(f"{where}: refused {text}")
            return tally, [finding("UPLOAD-REFUSED", f"{where}:Bundle.entry[{index}]", [text], status=entry_status,
                                   server=base, outcome=text, posted=tally.bundles - 1)]
    return tally, []


def upload(out_dir: Path, server: str, release: str | None = None, report: Callable[[str], None] = print,
           **options: Any) -> tuple[Tally, list[Finding]]:
    """Upload a convert output to a FHIR server; returns what the server did and the findings."""
    base = server.rstrip("/")
    if release is None:
        try:
            release = server_release(base, **options)
        except (Refused, Unreachable) as error:
            detail = outcome_text(error.body) if isinstance(error, Refused) else str(error)
            return Tally(), [finding("UPLOAD-UNREACHABLE", f"{base}/metadata", [detail], server=base, detail=detail,
                                     posted=0)]
        if not release:
            return Tally(), [finding("UPLOAD-RELEASE", f"{base}/metadata", [], server=base)]
    folder = release_folder(Path(out_dir), release)
    if folder is None:
        return Tally(), [finding("UPLOAD-NO-BUNDLES", str(out_dir), [release], path=str(out_dir), release=release)]
    tally, findings = post_bundles(folder, base, report, **options)
    return tally, findings + [finding("UPLOAD-DONE", f"{base}", [], release=release, bundles=tally.bundles,
                                      entries=f"{tally.entries:,}", created=f"{tally.created:,}",
                                      updated=f"{tally.updated:,}")]
