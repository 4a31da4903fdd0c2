"""`trialbridge upload`: a convert output posted to a real FHIR R4 server, in order, idempotent, stopping on refusal.

The server is the Medplum FHIR engine of `../shared/servers/medplum-fhir-router` (in memory, loopback only):
the one `.ci/run` starts (its base URL in TRIALBRIDGE_FHIR_SERVER), else one started here on a free port
and always stopped. Its limits, which the default Bundles meet: at most 50 updates per transaction
(checked below: 60 are refused with Medplum's OperationOutcome); at most 8 entries in a transaction with a
conditional entry (we write none: every entry is a PUT at the resource's stable id).
To point upload at your own server (HAPI, Medplum, ...): `trialbridge upload OUT_DIR --server
http://localhost:8080/fhir` (HAPI's default base) or `--server https://api.medplum.com/fhir/R4`; the
release comes from the server's /metadata. The retry test needs no server: a local stub answers 503 first.
"""
from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trialbridge.converters.fhir import upload as upload_module
from trialbridge.converters.cli import main
from trialbridge.converters.fhir.bundle import read_bundles

ROUTER = Path(__file__).resolve().parents[2] / "shared" / "servers" / "medplum-fhir-router"
HOME = Path(os.environ.get("MEDPLUM_FHIR_HOME", "/tmp/medplum-fhir-router"))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"
needs_server = pytest.mark.skipif(
    not ROUTER.exists() and not os.environ.get("TRIALBRIDGE_FHIR_SERVER"),
    reason="no local FHIR server: ../shared/servers/medplum-fhir-router exists only in the project workspace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def fhir_base(tmp_path_factory):
    """Base URL of a Medplum FHIR R4 engine: the one .ci/run started, or one started here and stopped after."""
    given = os.environ.get("TRIALBRIDGE_FHIR_SERVER")
    if given:
        yield given.rstrip("/")
        return
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (HOME / "node_modules" / ".setup-ok").exists():
        setup = subprocess.run([str(ROUTER / "setup.sh")], capture_output=True, text=True, timeout=600)
        if setup.returncode != 0:
            pytest.skip(f"the server's npm packages could not be installed: {setup.stderr[-300:]}")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("fhir-server") / "server.log"
    env = {**os.environ, "NODE_PATH": str(HOME / "node_modules"), "FHIR_PORT": str(port), "FHIR_HOST": "127.0.0.1"}
    base = f"http://127.0.0.1:{port}/fhir/R4"
    with open(log_path, "w") as log:
        process = subprocess.Popen([node, str(ROUTER / "server.cjs")], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:  # e.g. a node too old for Medplum 4.5: the machine, not the code
                    pytest.skip(f"the local FHIR server could not run here: {log_path.read_text()[-300:]}")
                try:
                    if _get(f"{base}/metadata")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("the FHIR server did not answer within 60 s")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _counts(base: str, types: list[str]) -> dict[str, int]:
    return {t: int(_get(f"{base}/{t}?_summary=count")[1].get("total", 0)) for t in types}


def _written(folder: Path) -> dict[str, int]:
    return {p.stem: len(p.read_bytes().splitlines()) for p in (folder / "ndjson").glob("*.ndjson")}


def _convert(source: Path, out: Path, *options: str) -> Path:
    assert main(["convert", str(source), "--out", str(out), "--fhir", "R4", *options]) in (0, 1)
    return out / "fhir" / "R4"


def _ids(folder: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for resource in (json.loads(line) for p in (folder / "ndjson").glob("*.ndjson") for line in p.read_bytes().splitlines()):
        out.setdefault(resource["resourceType"], set()).add(resource["id"])
    return out


@needs_server
def test_revallo_uploads_whole_and_a_second_upload_creates_nothing(fhir_base, tmp_path, capsys):
    folder = _convert(EXAMPLE, tmp_path / "out")
    written = _written(folder)
    before = _counts(fhir_base, sorted(written))
    assert main(["upload", str(tmp_path / "out"), "--server", fhir_base]) == 0
    lines = capsys.readouterr().err.splitlines()
    bundles = list(read_bundles(folder))
    assert sum("HTTP 200 transaction-response" in line for line in lines) == len(bundles) > 20  # one line per Bundle
    after = _counts(fhir_base, sorted(written))
    ids = _ids(folder)
    for rtype, n in written.items():  # every resource is there (created, or already there from an earlier test)
        assert after[rtype] >= n
        assert after[rtype] - before[rtype] <= n
    patient = next(iter(ids["Patient"]))
    assert _get(f"{fhir_base}/Patient/{patient}")[0] == 200
    subject_id = next(iter(ids["ResearchSubject"]))
    _, subject = _get(f"{fhir_base}/ResearchSubject/{subject_id}")
    assert _get(f"{fhir_base}/{subject['individual']['reference']}")[0] == 200  # the reference resolves
    assert _get(f"{fhir_base}/{subject['study']['reference']}")[0] == 200

    assert main(["upload", str(tmp_path / "out"), "--server", fhir_base, "--release", "R4"]) == 0
    assert _counts(fhir_base, sorted(written)) == after  # the second upload created nothing


@needs_server
def test_a_generated_study_uploads_in_batches(fhir_base, tmp_path):
    assert main(["synth", "--subjects", "20", "--seed", "7", "--out", str(tmp_path / "native")]) == 0
    folder = _convert(tmp_path / "native", tmp_path / "out", "--bundle-type", "batch", "--bundle-entries", "400")
    bundles = list(read_bundles(folder))
    assert {b["type"] for b in bundles} == {"batch"} and max(len(b["entry"]) for b in bundles) == 400
    tally, findings = upload_module.upload(tmp_path / "out", fhir_base, report=lambda _: None)
    assert [f.rule for f in findings] == ["UPLOAD-DONE"]
    assert tally.bundles == len(bundles) and tally.entries == sum(_written(folder).values())
    for rtype, ids in _ids(folder).items():
        for rid in sorted(ids)[:3]:
            assert _get(f"{fhir_base}/{rtype}/{rid}")[0] == 200


@needs_server
def test_medplum_refuses_a_transaction_of_more_than_50_updates_and_upload_stops_there(fhir_base, tmp_path):
    folder = _convert(EXAMPLE, tmp_path / "out", "--bundle-entries", "60")  # the study level (10), then 60s
    lines: list[str] = []
    tally, findings = upload_module.upload(tmp_path / "out", fhir_base, report=lines.append)
    refused = [f for f in findings if f.rule == "UPLOAD-REFUSED"]
    assert len(refused) == 1 and refused[0].location == f"{folder.name}/bundles.ndjson:2"
    assert "more update operations than allowed" in refused[0].message  # Medplum's own OperationOutcome
    assert tally.bundles == 1  # stopped at the first refusal: the third Bundle was never posted
    assert len(lines) == 2


def test_upload_retries_a_busy_server_with_back_off(tmp_path):
    """A stub server answers 503 twice, then accepts: one Bundle, posted three times, reported once."""
    answers = [503, 503, 200]
    posted: list[bytes] = []

    class Stub(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            status = answers.pop(0)
            body = {"resourceType": "Bundle", "type": "transaction-response",
                    "entry": [{"response": {"status": "201 Created"}}]} if status == 200 else {}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    folder = tmp_path / "fhir" / "R4"
    folder.mkdir(parents=True)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}, "request": {"method": "PUT", "url": "Patient/p1"}}]}
    (folder / "bundles.ndjson").write_text(json.dumps(bundle) + "\n")
    server = http.server.HTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    try:
        tally, findings = upload_module.upload(tmp_path, f"http://127.0.0.1:{server.server_port}/fhir", "R4",
                                               report=lambda _: None, sleep=waits.append, backoff=0.5)
    finally:
        server.shutdown()
    assert len(posted) == 3 and posted[0] == posted[2]
    assert waits == [0.5, 1.0]  # doubling back-off
    assert (tally.bundles, tally.created) == (1, 1)
    assert [f.rule for f in findings] == ["UPLOAD-DONE"]


def test_no_bundles_is_bad_input_and_an_unreachable_server_is_reported(tmp_path):
    assert main(["upload", str(tmp_path), "--server", "http://127.0.0.1:9/fhir", "--release", "R4"]) == 2
    folder = tmp_path / "fhir" / "R4"
    folder.mkdir(parents=True)
    (folder / "bundles.ndjson").write_text('{"resourceType":"Bundle","type":"batch"}\n')
    tally, findings = upload_module.upload(tmp_path, "http://127.0.0.1:9/fhir", "R4", report=lambda _: None,
                                           retries=1, sleep=lambda _: None)
    assert [f.rule for f in findings] == ["UPLOAD-UNREACHABLE", "UPLOAD-DONE"] and tally.bundles == 0
