"""Upload to a real FHIR R4 server: posting the written bundle a second time creates nothing new.

The server is the local Medplum FHIR engine of `../shared/servers/medplum-fhir-router` (in memory,
loopback only), started here on a free port and always stopped. Medplum refuses a transaction that has
conditional entries and more than 8 entries ("Transaction requires strict isolation but has too many
entries", as its production server does), so:
- a small study (6 entries) written by `write_fhir_release` is posted exactly as written, a transaction;
- the REVALLO R4 bundle is posted with `type` set to `batch`: Medplum still resolves each `ifNoneExist`
  and rewrites the `urn:uuid` references in a batch. It keeps 20 of its 1,314 Observations: the in-memory
  server searches by scanning, so each conditional create gets slower as the store grows (1,314 take
  minutes), and nothing references an Observation.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trialbridge.converters.fhir_bundle import write_fhir_release
from trialbridge.mappings.fhir.common import SYSTEM_USUBJID, reference, resource_id

ROUTER = Path(__file__).resolve().parents[2] / "shared" / "servers" / "medplum-fhir-router"
HOME = Path(os.environ.get("MEDPLUM_FHIR_HOME", "/tmp/medplum-fhir-router"))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "revallo"

pytestmark = pytest.mark.skipif(
    not ROUTER.exists(),
    reason="no local FHIR server: ../shared/servers/medplum-fhir-router exists only in the project workspace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(method: str, url: str, body: bytes | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture()
def fhir_base(tmp_path_factory):
    """Base URL of a fresh, empty server on a free loopback port; the server is stopped whatever happens."""
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
                if process.poll() is not None:
                    pytest.fail(f"the FHIR server exited: {log_path.read_text()[-500:]}")
                try:
                    if _call("GET", f"{base}/metadata")[0] == 200:
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


def _post_twice(base: str, body: bytes) -> tuple[dict, dict]:
    first_status, first = _call("POST", base, body)
    assert first_status == 200, first
    second_status, second = _call("POST", base, body)
    assert second_status == 200, second
    return first, second


def _statuses(response: dict) -> list[str]:
    return [e["response"]["status"] for e in response["entry"]]


def _locations(response: dict) -> list[str]:
    return [e["response"]["location"].split("/_history")[0] for e in response["entry"]]


def _matches(base: str, bundle: dict) -> list[int]:
    """For each conditional create: how many resources of its type the server holds with its identifier.

    The search is the entry's own `ifNoneExist` query (identifier=system|value, FHIR-escaped).
    """
    out = []
    for entry in bundle["entry"]:
        if "ifNoneExist" in entry["request"]:
            status, found = _call("GET", f"{base}/{entry['request']['url']}?{entry['request']['ifNoneExist']}")
            assert status == 200, found
            out.append(len(found.get("entry", [])))
    return out


def _held(base: str, bundle: dict) -> dict[str, int]:
    """How many resources of each type of the bundle the server holds."""
    types = sorted({e["resource"]["resourceType"] for e in bundle["entry"]})
    return {t: len(_call("GET", f"{base}/{t}?_count=1000")[1].get("entry", [])) for t in types}


def small_study_r4() -> list[dict]:
    """One subject with two administrations: six R4 resources, a transaction Medplum accepts (at most 8)."""
    def res(rtype: str, key: str, system: str, **elements) -> dict:
        return {"resourceType": rtype, "id": resource_id(rtype, "upload-test", key),
                "identifier": [{"system": system, "value": key}], **elements}

    study, patient = reference("ResearchStudy", "upload-test", "UPL"), reference("Patient", "upload-test", "UPL-001")
    med = reference("Medication", "upload-test", "LENALIDOMIDE")
    dose = {"dose": {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
    return [
        res("ResearchStudy", "UPL", "urn:trialbridge:studyid", status="active"),
        res("Medication", "LENALIDOMIDE", "urn:trialbridge:medication"),
        res("Patient", "UPL-001", SYSTEM_USUBJID, gender="female", birthDate="1959-04"),
        res("ResearchSubject", "UPL-001", SYSTEM_USUBJID, status="on-study", study=study, individual=patient),
        res("MedicationAdministration", "UPL-001/1", "urn:trialbridge:exposure", status="completed",
            medicationReference=med, subject=patient,
            effectivePeriod={"start": "2011-10-15", "end": "2011-12-11"}, dosage=dose),
        res("MedicationAdministration", "UPL-001/2", "urn:trialbridge:exposure", status="in-progress",
            medicationReference=med, subject=patient, effectivePeriod={"start": "2011-12-12"}, dosage=dose),
    ]


def test_transaction_posted_twice_creates_nothing_new(fhir_base, tmp_path):
    findings = write_fhir_release(small_study_r4(), tmp_path, "R4")
    assert [f.rule for f in findings] == ["FHIR-WRITTEN"]
    body = (tmp_path / "R4" / "bundle.json").read_bytes()
    bundle = json.loads(body)
    first, second = _post_twice(fhir_base, body)
    assert first["type"] == second["type"] == "transaction-response"
    assert _statuses(first) == ["201"] * 6
    assert _statuses(second) == ["200"] * 6  # every ifNoneExist matched: nothing created
    assert _locations(second) == _locations(first)
    assert _matches(fhir_base, bundle) == [1] * 6
    # the server rewrote the urn:uuid references to its own ids
    subject_location = _locations(first)[3]
    _, subject = _call("GET", f"{fhir_base}/{subject_location}")
    assert subject["individual"]["reference"] == _locations(first)[2]
    assert subject["study"]["reference"] == _locations(first)[0]


def test_revallo_r4_bundle_posted_twice_creates_nothing_new(fhir_base, tmp_path):
    from trialbridge.converters.fhir_stage import write_fhir
    from trialbridge.converters.pipeline import read_study as read_native
    from trialbridge.converters.sdtm_package import map_sdtm

    trial, _ = read_native(EXAMPLE)
    findings = write_fhir(trial.registry, map_sdtm(trial).tables, tmp_path, ["R4"])
    assert not [f for f in findings if f.severity == "error"]
    bundle = json.loads((tmp_path / "R4" / "bundle.json").read_text(encoding="utf-8"))
    assert bundle["type"] == "transaction"
    observations = [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Observation"]
    bundle["entry"] = [e for i, e in enumerate(bundle["entry"]) if i not in set(observations[20:])]
    bundle["type"] = "batch"  # see the module docstring
    expected = {}
    for entry in bundle["entry"]:
        expected[entry["resource"]["resourceType"]] = expected.get(entry["resource"]["resourceType"], 0) + 1
    puts = ["PUT" == e["request"]["method"] for e in bundle["entry"]]  # R4 AdverseEvent: no identifier search
    assert any(puts)
    body = json.dumps(bundle, ensure_ascii=False).encode("utf-8")

    first, second = _post_twice(fhir_base, body)
    assert all(s == "201" for s, put in zip(_statuses(first), puts) if not put)
    assert all(s in ("200", "201") for s, put in zip(_statuses(first), puts) if put)  # update as create
    assert _held(fhir_base, bundle) == expected
    assert set(_matches(fhir_base, bundle)) == {1}
    assert _statuses(second) == ["200"] * len(bundle["entry"])  # nothing created the second time
    assert _locations(second) == _locations(first)
    assert _held(fhir_base, bundle) == expected  # counts unchanged
    assert set(_matches(fhir_base, bundle)) == {1}
