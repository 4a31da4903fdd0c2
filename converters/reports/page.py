"""The report document -> report.html: one self-contained page a reviewer triages in a browser.

Summary, a bar chart of findings per dataset (inline SVG), the reconciliation tables, and the findings
grouped by rule (title, citation, hint, count), each with its records; filters by severity, dataset and
status. Nothing is fetched: styles and the small filter script are inline and a Content-Security-Policy
forbids every external resource. Every text that comes from the input is escaped.
"""
from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Mapping, Sequence

RECORDS_SHOWN = 50  # per finding on the page; report.json and report.xlsx list them all

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right}
.error{color:#a00}.warning{color:#a60}.info{color:#357}
details{margin:.3em 0;border:1px solid #ddd;padding:.2em .6em}summary{cursor:pointer}
.explained{background:#eef7ee}.muted{color:#777}.records{font-size:12px;color:#444}
#filters label{margin-right:1em}
"""

SCRIPT = """
(function(){
  function apply(){
    var s=document.getElementById('f-severity').value,d=document.getElementById('f-dataset').value,
        t=document.getElementById('f-status').value,shown=0;
    var rows=document.querySelectorAll('tr.finding');
    for(var i=0;i<rows.length;i++){
      var r=rows[i],ok=(!s||r.dataset.severity===s)&&(!d||r.dataset.dataset===d)&&(!t||r.dataset.status===t);
      r.hidden=!ok;if(ok){shown++;}
    }
    var rules=document.querySelectorAll('details.rule');
    for(var j=0;j<rules.length;j++){
      rules[j].hidden=rules[j].querySelectorAll('tr.finding:not([hidden])').length===0;
    }
    document.getElementById('shown').textContent=String(shown);
  }
  var ids=['f-severity','f-dataset','f-status'];
  for(var k=0;k<ids.length;k++){document.getElementById(ids[k]).addEventListener('change',apply);}
  apply();
  document.body.setAttribute('data-ready','1');
})();
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], ident: str = "", numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class=\"n\">{_e(c)}</td>" if i in numeric else f"<td>{_e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    attr = f' id="{_e(ident)}"' if ident else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(doc: Mapping) -> str:
    s = doc["summary"]
    cells = [("findings", s["findings"]), ("records", s["records"])]
    cells += [(f"{k} records", v) for k, v in s["by_severity"].items()]
    cells += [(f"{k} records", v) for k, v in s["by_status"].items()]
    rows = "".join(f"<tr><th>{_e(name)}</th><td class=\"n\" data-count=\"{_e(name)}\">{_e(v)}</td></tr>"
                   for name, v in cells)
    facts = [("input", f"{doc['input']['path']} ({doc['input']['kind']})"), ("command", doc["command"]),
             ("tool", f"{doc['tool']['name']} {doc['tool']['version']}"),
             ("standards", ", ".join(f"{k} {v}" for k, v in doc["standards"].items())),
             ("created", doc["created"]),
             ("exit code", doc["run"]["exit_code"])]
    info = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return f'<table id="facts">{info}</table><table id="summary">{rows}</table>'


def _chart(doc: Mapping) -> str:
    """A horizontal bar per dataset: its finding records by severity (inline SVG, no script)."""
    rows = [d for d in doc["datasets"] if d["errors"] + d["warnings"] + d["notes"]]
    if not rows:
        return "<p>No findings.</p>"
    most = max(d["errors"] + d["warnings"] + d["notes"] for d in rows)
    width, bar, label = 480, 18, 150
    parts = []
    for i, d in enumerate(rows):
        y, x = i * (bar + 4), label
        for key, colour in (("errors", "#c33"), ("warnings", "#e90"), ("notes", "#79b")):
            w = d[key] * width / most
            if d[key]:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar}" fill="{colour}">'
                             f'<title>{_e(d["dataset"])}: {d[key]} {key}</title></rect>')
            x += w
        total = d["errors"] + d["warnings"] + d["notes"]
        parts.append(f'<text x="{label - 6}" y="{y + 13}" text-anchor="end">{_e(d["dataset"])}</text>'
                     f'<text x="{x + 4:.1f}" y="{y + 13}" class="bar-total" data-dataset="{_e(d["dataset"])}">'
                     f'{total}</text>')
    height = len(rows) * (bar + 4)
    return (f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{label + width + 80}" height="{height}" '
            f'font-size="12" role="img" aria-label="finding records per dataset">{"".join(parts)}</svg>')


def _reconciliation(doc: Mapping) -> str:
    recon = doc["reconciliation"]
    if not recon:
        return "<p class=\"muted\">No input rows to reconcile for this run.</p>"
    rows = [(name, c.get("read"), c.get("written"), c.get("rejected"), c.get("lost"),
             "; ".join(f"{k}: {v}" for k, v in dict(c.get("rejected_reasons", {})).items()))
            for name, c in recon.items()]
    return _table(("input", "read", "written", "rejected", "lost", "rejected because"), rows, "reconciliation",
                  numeric=(1, 2, 3, 4))


def _record_text(r: Mapping) -> str:
    place = str(r["row"]) if r.get("row") is not None else (
        f"{r['file']}:{r['line']}" if r.get("line") is not None else r.get("location", ""))
    extra = " ".join(p for p in (r.get("usubjid", ""), f"seq {r['seq']}" if r.get("seq") else "") if p)
    return f"{place} ({extra})" if extra else place


def _finding_row(f: Mapping) -> str:
    where = " ".join(str(f[k]) for k in ("variable",) if f.get(k))
    records = f["records"][:RECORDS_SHOWN]
    listed = ", ".join(_record_text(r) for r in records)
    if len(f["records"]) > RECORDS_SHOWN:
        listed += f", ... {len(f['records']) - RECORDS_SHOWN} more in report.json"
    knock = "; ".join(f"{k['count']} {k['rule']} {k['dataset']}.{k['variable']}" for k in f["knock_on"])
    explained = f["explanation"]
    status = (f"explained: {explained['justification']} ({explained['author']}, {explained['date']})"
              if explained else "open")
    cls = "finding explained" if explained else "finding"
    return (f'<tr class="{cls}" data-severity="{_e(f["severity"])}" data-dataset="{_e(f["group"])}" '
            f'data-status="{_e(f["status"])}" data-count="{f["count"]}" id="{_e(f["id"])}">'
            f'<td class="{_e(f["severity"])}">{_e(f["severity"])}</td><td>{_e(f["location"])}</td>'
            f'<td>{_e(f["group"])} {_e(where)}</td><td>{_e(f["message"])}'
            + (f'<div class="records">records: {_e(listed)}</div>' if f["count"] > 1 else "")
            + (f'<div class="records">knock-on, not reported again: {_e(knock)}</div>' if knock else "")
            + f'</td><td>{_e(", ".join(f["values"]))}</td><td class="n">{f["count"]}</td><td>{_e(status)}</td></tr>')


def _rules(doc: Mapping) -> str:
    by_rule: dict[str, list[Mapping]] = defaultdict(list)
    for f in doc["findings"]:
        by_rule[f["rule"]].append(f)
    rules = {r["rule"]: r for r in doc["rules"]}
    order = sorted(by_rule, key=lambda r: ({"error": 0, "warning": 1, "info": 2}.get(by_rule[r][0]["severity"], 3), r))
    parts = []
    for rule_id in order:
        rule, found = rules.get(rule_id, {}), by_rule[rule_id]
        records = sum(f["count"] for f in found)
        head = (f'<summary><span class="{_e(found[0]["severity"])}">{_e(found[0]["severity"])}</span> '
                f'<b>{_e(rule_id)}</b> {_e(rule.get("title", ""))}: <span class="rule-count">{records}</span> '
                f'record(s) in {len(found)} finding(s)</summary>')
        about = (f'<p>{_e(rule.get("citation", ""))}<br>fix: {_e(rule.get("hint", ""))}</p>')
        table = ("<table><thead><tr><th>severity</th><th>location</th><th>where</th><th>message</th>"
                 "<th>values</th><th>count</th><th>status</th></tr></thead><tbody>"
                 + "".join(_finding_row(f) for f in found) + "</tbody></table>")
        parts.append(f'<details class="rule" data-rule="{_e(rule_id)}" open>{head}{about}{table}</details>')
    return "".join(parts) or "<p>No findings.</p>"


def _filters(doc: Mapping) -> str:
    def select(ident: str, label: str, options: Sequence[str]) -> str:
        opts = '<option value="">all</option>' + "".join(f'<option value="{_e(o)}">{_e(o)}</option>' for o in options)
        return f'<label>{_e(label)} <select id="{ident}">{opts}</select></label>'

    groups = sorted({f["group"] for f in doc["findings"]})
    return (f'<div id="filters">{select("f-severity", "severity", ("error", "warning", "info"))}'
            f'{select("f-dataset", "dataset", groups)}{select("f-status", "status", ("open", "explained"))}'
            f' showing <span id="shown">{len(doc["findings"])}</span> of {len(doc["findings"])} finding(s)</div>')


def _rule_results(doc: Mapping) -> str:
    rows = [(r["rule"], r["title"], r["status"], r["records"], r["detail"]) for r in doc["rules"]]
    return _table(("rule", "title", "status", "records", "detail"), rows, "rule-results", numeric=(3,))


def report_html(doc: Mapping) -> str:
    """The whole page as text."""
    title = f"trialbridge report: {doc['input']['path']}"
    datasets = _table(("dataset", "records", "findings", "errors", "warnings", "notes", "explained"),
                      [(d["dataset"], "" if d["records"] is None else d["records"], d["findings"], d["errors"],
                        d["warnings"], d["notes"], d["explained"]) for d in doc["datasets"]],
                      "datasets", numeric=(1, 2, 3, 4, 5, 6))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><h2>Summary</h2>{_summary(doc)}"
        f"<h2>Findings per dataset</h2>{_chart(doc)}{datasets}"
        f"<h2>Reconciliation</h2>{_reconciliation(doc)}"
        f"<h2>Findings by rule</h2>{_filters(doc)}{_rules(doc)}"
        f"<h2>Rules</h2>{_rule_results(doc)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
