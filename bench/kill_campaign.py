"""Random-kill campaign: a 2,000-subject conversion killed at random points -> what each kill left behind.

Synthesises one study (`trialbridge synth`), times one full `convert`, then N times starts `convert
--force` into the same `--out`, sends SIGKILL or SIGTERM after a random delay within the full run's
time, to the command, to its worker child, or to the whole process group, and checks:

- processes: none of the run is left once the command has been reaped (every process of a run carries
  a marker in its environment; /proc is searched for it until none remains, at most `--grace` seconds);
- `--out`: either absent or whole (every file its manifest lists, with its checksum, and nothing else);
- debris: new `.out.partial-*` / `.out.old-*` / `.out.lock` beside `--out` right after the kill (expected only
  when every process of the run was SIGKILLed at once) and after the last, uninterrupted run (never expected).

It prints one line per kill and the figures; it is not a test (timings are random by design).

    nice python bench/kill_campaign.py --kills 30 --subjects 2000 --seed 7 --work /tmp/killcamp
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

CLI = [sys.executable, "-m", "trialbridge.converters.cli"]
MANIFEST = "trialbridge-manifest.sha256"


def marked(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment carries `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes() and \
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def out_state(out: Path) -> str:
    """'absent', 'whole', or what is wrong with it."""
    if not out.exists():
        return "absent"
    try:
        listed = dict(reversed(line.split("  ", 1)) for line in (out / MANIFEST).read_text().splitlines() if line)
    except OSError:
        return "NO MANIFEST"
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    if present != set(listed):
        return f"FILES DIFFER ({len(present ^ set(listed))})"
    for name, digest in listed.items():
        if hashlib.sha256((out / name).read_bytes()).hexdigest() != digest:
            return f"CHECKSUM {name}"
    return "whole"


def debris(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def convert(study: Path, out: Path, marker: str, fhir: str) -> subprocess.Popen:
    env = {**os.environ, "TRIALBRIDGE_KILL_CAMPAIGN": marker}
    return subprocess.Popen([*CLI, "convert", str(study), "--out", str(out), "--force", "--quiet", "--fhir", fhir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)


def one_kill(study: Path, out: Path, delay: float, sig: int, target: str, fhir: str, grace: float) -> dict:
    marker = uuid.uuid4().hex
    before = set(debris(out))
    process = convert(study, out, marker, fhir)
    time.sleep(delay)
    victims = {"command": [process.pid], "child": children(process.pid) or [process.pid]}.get(target)
    try:
        if target == "group":
            os.killpg(process.pid, sig)
        else:
            for pid in victims:
                os.kill(pid, sig)
    except ProcessLookupError:
        pass
    err = process.stderr.read().decode(errors="replace")
    code = process.wait()
    deadline = time.monotonic() + grace
    left = marked(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked(marker)
    return {"code": code, "left": left, "out": out_state(out), "debris": sorted(set(debris(out)) - before),
            "traceback": "Traceback" in err, "tail": err.strip().splitlines()[-1:] if err.strip() else []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kill-campaign"))
    parser.add_argument("--fhir", default="R4", help="--fhir of each convert (default R4)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds a killed run's processes may take to go")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    study, out = args.work / "study", args.work / "out"
    subprocess.run([*CLI, "synth", "--subjects", str(args.subjects), "--seed", str(args.seed), "--out", str(study)],
                   check=True, capture_output=True)
    start = time.monotonic()
    full = convert(study, out, uuid.uuid4().hex, args.fhir)
    full.stderr.read()
    assert full.wait() in (0, 1), "the uninterrupted run failed"
    seconds = time.monotonic() - start
    print(f"{args.subjects} subjects, one full convert --fhir {args.fhir}: {seconds:.1f} s")
    tally: Counter = Counter()
    for i in range(args.kills):
        delay = rng.uniform(0.0, seconds)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        target = rng.choice(["command", "child", "group"])
        r = one_kill(study, out, delay, sig, target, args.fhir, args.grace)
        expected_debris = sig == signal.SIGKILL and target == "group"
        bad = []
        if r["left"]:
            bad.append(f"processes left {r['left']}")
        if r["out"] not in ("absent", "whole"):
            bad.append(f"out {r['out']}")
        if r["debris"] and not expected_debris:
            bad.append(f"debris {r['debris']}")
        if r["traceback"]:
            bad.append("traceback")
        tally["defect" if bad else "clean"] += 1
        tally[f"out {r['out']}"] += 1
        print(f"{i + 1:3} {signal.Signals(sig).name:7} {target:7} after {delay:5.1f} s: exit {r['code']:4}  "
              f"out {r['out']:7} debris {len(r['debris'])}  {'; '.join(bad) or 'ok'}  {' '.join(r['tail'])[:90]}")
    after = convert(study, out, uuid.uuid4().hex, args.fhir)   # the next run removes what dead runs left
    after.stderr.read()
    code = after.wait()
    final = debris(out)
    print(f"next full run: exit {code}, out {out_state(out)}, debris left {final}")
    print("figures: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    shutil.rmtree(args.work, ignore_errors=True)
    return 0 if tally["defect"] == 0 and not final and code in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
