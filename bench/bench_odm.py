"""Benchmark of `trialbridge read` on ODM 1.3 exports: ItemData -> wall seconds, peak memory, tables.

For each size an OpenClinica-shaped ODM file is written (not timed): N subjects, each with 5 study
events of 4 forms, each form one item group of 20 items with a coded item (so 400 ItemData per
subject), plus one repeating group of 3 occurrences. Then `trialbridge read FILE --out DIR` runs in a
child process under `/usr/bin/time` (wall, CPU, peak RSS).

    python bench/bench_odm.py              # 500 and 2,500 subjects (200k and 1M ItemData)
    python bench/bench_odm.py 100 1000     # other sizes
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENTS, FORMS, ITEMS = 5, 4, 20


def write_odm(path: Path, subjects: int) -> int:
    """Write the benchmark file; returns the number of ItemData written."""
    items = "".join(f'<ItemDef OID="I_F{f}_{i}" Name="F{f}_ITEM{i}" DataType="text">'
                    + ('<CodeListRef CodeListOID="CL_YN"/>' if i == 0 else "") + "</ItemDef>"
                    for f in range(FORMS) for i in range(ITEMS))
    groups = "".join(f'<ItemGroupDef OID="IG_F{f}" Name="GROUP_{f}" Repeating="No">'
                     + "".join(f'<ItemRef ItemOID="I_F{f}_{i}" Mandatory="No"/>' for i in range(ITEMS))
                     + "</ItemGroupDef>" for f in range(FORMS))
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" '
                  'xmlns:OpenClinica="http://www.openclinica.org/ns/odm_ext_v130/v3.1" FileType="Snapshot" '
                  'ODMVersion="1.3" FileOID="BENCH" CreationDateTime="2024-01-01T00:00:00">\n<Study OID="S">'
                  '<MetaDataVersion OID="V" Name="V">'
                  + "".join(f'<StudyEventDef OID="SE{e}" Name="Visit {e}" Repeating="No" Type="Scheduled"/>'
                            for e in range(EVENTS))
                  + "".join(f'<FormDef OID="F{f}" Name="Form {f}" Repeating="No"/>' for f in range(FORMS))
                  + groups + '<ItemGroupDef OID="IG_CM" Name="CM" Repeating="Yes"><ItemRef ItemOID="I_CM" Mandatory="No"/>'
                  '</ItemGroupDef>' + items + '<ItemDef OID="I_CM" Name="CMTRT" DataType="text"/>'
                  '<CodeList OID="CL_YN" Name="YN" DataType="text"><CodeListItem CodedValue="1"><Decode>'
                  '<TranslatedText>Yes</TranslatedText></Decode></CodeListItem></CodeList>'
                  '</MetaDataVersion></Study>\n<ClinicalData StudyOID="S" MetaDataVersionOID="V">\n')
        for s in range(subjects):
            out.write(f'<SubjectData SubjectKey="SS_{s:06d}" OpenClinica:StudySubjectID="{s:06d}" '
                      f'OpenClinica:Status="signed">\n')
            for e in range(EVENTS):
                out.write(f' <StudyEventData StudyEventOID="SE{e}" OpenClinica:StartDate="2024-01-{e + 1:02d}">\n')
                for f in range(FORMS):
                    values = "".join(f'<ItemData ItemOID="I_F{f}_{i}" Value="{1 if i == 0 else s * 7 + i}"/>'
                                     for i in range(ITEMS))
                    out.write(f'  <FormData FormOID="F{f}" OpenClinica:Version="v1"><ItemGroupData '
                              f'ItemGroupOID="IG_F{f}" TransactionType="Insert">{values}</ItemGroupData>')
                    if f == 0 and e == 0:
                        out.write("".join(f'<ItemGroupData ItemGroupOID="IG_CM" ItemGroupRepeatKey="{k}">'
                                          f'<ItemData ItemOID="I_CM" Value="drug {k}"/></ItemGroupData>'
                                          for k in (1, 2, 3)))
                        count += 3
                    out.write("</FormData>\n")
                    count += ITEMS
                out.write(" </StudyEventData>\n")
            out.write("</SubjectData>\n")
        out.write("</ClinicalData>\n</ODM>\n")
    return count


def run(subjects: int, work: Path) -> None:
    source = work / f"odm-{subjects}.xml"
    items = write_odm(source, subjects)
    out = work / f"out-{subjects}"
    command = [sys.executable, "-m", "trialbridge.converters.cli", "read", str(source), "--out", str(out)]
    started = time.perf_counter()
    timed = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if timed.returncode != 0:
        print(timed.stderr[-2000:])
        raise SystemExit(f"read failed with exit {timed.returncode}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", timed.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", timed.stderr)
    cpu = float(user.group(1)) + float(system.group(1)) if user and system else float("nan")
    peak = int(rss.group(1)) / 1024 if rss else float("nan")
    size = source.stat().st_size / 1024 / 1024
    print(f"{subjects:>7,} subjects  {items:>10,} ItemData  {size:>7.1f} MB  wall {wall:>6.1f} s  "
          f"cpu {cpu:>6.1f} s  peak {peak:>7.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[500, 2500])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for subjects in sorted(args.sizes):
            run(subjects, Path(folder))


if __name__ == "__main__":
    main()
