#!/usr/bin/env python3
"""Cross-reference checks for the GhostLink ops files (stdlib only; run by ops/check.sh).

  check_refs.py dashboards   every Grafana dashboard parses, uses the provisioned datasource,
                             and every metric its PromQL names is in docs/metrics.md (or is
                             up, process_*, or a recording rule from ops/prometheus/rules);
                             the same holds for the exprs of the rule files. Also writes the
                             dashboard queries (Grafana variables filled in) as a rule file to
                             --promql-out, so that `promtool check rules` can parse them.
  check_refs.py runbook      every alert has severity page|ticket, summary, description and a
                             runbook_url whose anchor is a heading of RUNBOOK.md (GitHub anchor
                             rules) named after the alert.
  check_refs.py tests        every alert has a promtool unit test where it fires and one where
                             it stays silent.

Run from the repository root. Exit status 1 and one line per problem on failure.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import unicodedata

METRICS_DOC = "docs/metrics.md"
RULE_GLOB = "ops/prometheus/rules/*.yml"
ALERTS = "ops/prometheus/rules/alerts.yml"
TEST_GLOB = "ops/prometheus/tests/*.yml"
DASHBOARD_GLOB = "ops/grafana/dashboards/*.json"
DATASOURCES = "ops/grafana/provisioning/datasources/prometheus.yml"
RUNBOOK = "RUNBOOK.md"
RUNBOOK_URL_PREFIX = "https://github.com/ghostlink/ghostlink/blob/main/RUNBOOK.md#"

# Names that may appear in PromQL besides metrics.
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "start", "end",
}
# Values that stand in for Grafana variables when a dashboard query is parsed.
GRAFANA_VARS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "service": "redirect",
    "instance": ".*",
}


# ----------------------------------------------------------------------------- helpers
def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def contract_metrics(path: str = METRICS_DOC) -> set[str]:
    """Metric names from the first column of the tables in docs/metrics.md."""
    names: set[str] = set()
    for line in read(path).splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        found = re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", cells[0])
        for name in found:
            names.add(name)
            if cells[1] == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
    if not names:
        raise SystemExit(f"no metric names found in {path}")
    return names


def yaml_values(text: str, key: str) -> list[tuple[int, str]]:
    """Values of `key:` in a YAML file, handling plain, quoted and block (| >) scalars.

    Good enough for the rule files this repository writes; not a YAML parser.
    Returns (line number, value) pairs.
    """
    out = []
    lines = text.splitlines()
    pat = re.compile(r"^(\s*)(?:-\s+)?" + re.escape(key) + r":\s*(.*)$")
    i = 0
    while i < len(lines):
        m = pat.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        value = m.group(2).strip()
        start = i + 1
        if value[:1] in ("|", ">"):
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            joiner = "\n" if value[0] == "|" else " "
            out.append((start, joiner.join(b for b in block if b)))
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].strip()
        out.append((start, value))
        i += 1
    return out


def recording_rule_names() -> set[str]:
    names = set()
    for path in sorted(glob.glob(RULE_GLOB)):
        for _, v in yaml_values(read(path), "record"):
            names.add(v)
    return names


def strip_promql(expr: str) -> str:
    """Drop what cannot be a metric name: strings, matchers, ranges, grouping labels."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"'(?:\\.|[^'\\])*'", "''", expr)
    expr = re.sub(r"`[^`]*`", "``", expr)
    expr = re.sub(r"\{[^{}]*\}", "", expr)
    expr = re.sub(r"\[[^\[\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", expr)
    return expr


def promql_metric_names(expr: str) -> set[str]:
    expr = strip_promql(expr)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)", expr):
        name = m.group(1)
        rest = expr[m.end():]
        if re.match(r"\s*\(", rest):          # function or aggregation
            continue
        if name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def fill_grafana_vars(expr: str) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        name = name.split(":")[0]
        if name not in GRAFANA_VARS:
            raise ValueError(f"unknown Grafana variable ${name}")
        return GRAFANA_VARS[name]
    return re.sub(r"\$\{([^}]+)\}|\[\[([^\]]+)\]\]|\$(\w+)", sub, expr)


def allowed(name: str, contract: set[str], records: set[str]) -> bool:
    return name in contract or name in records or name == "up" or name.startswith("process_")


# ----------------------------------------------------------------------------- dashboards
def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def check_dashboards(promql_out: str | None) -> list[str]:
    errors: list[str] = []
    contract = contract_metrics()
    records = recording_rule_names()
    ds_uids = {v for _, v in yaml_values(read(DATASOURCES), "uid")}
    files = sorted(glob.glob(DASHBOARD_GLOB))
    if not files:
        errors.append(f"no dashboards match {DASHBOARD_GLOB}")
    seen_uids: dict[str, str] = {}
    queries: list[tuple[str, str]] = []   # (where, expr with variables filled in)
    counts = {}

    for path in files:
        try:
            dash = json.loads(read(path))
        except json.JSONDecodeError as e:
            errors.append(f"{path}: invalid JSON: {e}")
            continue
        uid = dash.get("uid")
        if not uid or not dash.get("title"):
            errors.append(f"{path}: dashboard needs a uid and a title")
        elif uid in seen_uids:
            errors.append(f"{path}: uid {uid} also used by {seen_uids[uid]}")
        else:
            seen_uids[uid] = path

        exprs: list[tuple[str, str]] = []
        for panel in walk_panels(dash.get("panels")):
            where = f"{path}: panel {panel.get('id')} \"{panel.get('title')}\""
            ds = panel.get("datasource")
            if isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") not in ds_uids:
                errors.append(f"{where}: datasource uid {ds.get('uid')!r} is not provisioned")
            for t in panel.get("targets") or []:
                if t.get("expr"):
                    exprs.append((where, t["expr"]))
        for var in (dash.get("templating") or {}).get("list", []):
            if var.get("type") != "query":
                continue
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            where = f"{path}: variable ${var.get('name')}"
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "")
            if m:
                exprs.append((where, m.group(1)))
            elif q:
                m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q)
                exprs.append((where, m.group(1) if m else q))
        counts[path] = len(exprs)
        if not exprs:
            errors.append(f"{path}: no PromQL queries found")
        for where, expr in exprs:
            for name in sorted(promql_metric_names(expr)):
                if not allowed(name, contract, records):
                    errors.append(f"{where}: metric {name!r} is not in {METRICS_DOC} "
                                  f"nor a recording rule")
            try:
                queries.append((where, fill_grafana_vars(expr)))
            except ValueError as e:
                errors.append(f"{where}: {e}")

    # The rule files obey the same contract.
    for path in sorted(glob.glob(RULE_GLOB)):
        for line, expr in yaml_values(read(path), "expr"):
            for name in sorted(promql_metric_names(expr)):
                if not allowed(name, contract, records):
                    errors.append(f"{path}:{line}: metric {name!r} is not in {METRICS_DOC} "
                                  f"nor a recording rule")

    if promql_out:
        with open(promql_out, "w", encoding="utf-8") as f:
            f.write("# Generated by ops/check_refs.py: dashboard queries, for promtool to parse.\n")
            f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
            for i, (where, expr) in enumerate(queries):
                f.write(f"      # {where}\n")
                f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(expr)}\n")
    if not errors:
        summary = ", ".join(f"{os.path.basename(p)}: {n}" for p, n in counts.items())
        print(f"{len(files)} dashboards, {sum(counts.values())} queries ({summary}); "
              f"{len(contract)} contract metrics, {len(records)} recording rules")
    return errors


# ----------------------------------------------------------------------------- runbook
def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: markup stripped, lowercase, punctuation other than - and _
    dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # links and images -> text
    text = re.sub(r"<[^>]+>", "", text)                            # inline HTML
    text = text.strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "-_ " or cat[0] in "LN" or cat == "Mn" or cat == "Pc":
            out.append(ch)
    return "".join(out).replace(" ", "-")


def runbook_anchors(path: str = RUNBOOK) -> dict[str, str]:
    anchors: dict[str, str] = {}
    counts: dict[str, int] = {}
    fence = None
    for line in read(path).splitlines():
        m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if m:
            if fence is None:
                fence = m.group(1)[0]
            elif m.group(1)[0] == fence:
                fence = None
            continue
        if fence:
            continue
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = github_anchor(m.group(1))
        n = counts.get(base, 0)
        counts[base] = n + 1
        anchors[base if n == 0 else f"{base}-{n}"] = m.group(1)
    return anchors


def alert_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, alert name, text of the rule) for each alerting rule."""
    lines = text.splitlines()
    starts = [(i, m) for i, l in enumerate(lines) if (m := re.match(r"^(\s*)- alert:\s*(\S+)", l))]
    out = []
    for k, (i, m) in enumerate(starts):
        end = len(lines)
        for j in range(i + 1, len(lines)):
            l = lines[j]
            if l.strip() and (len(l) - len(l.lstrip())) <= len(m.group(1)) and not l.lstrip().startswith("#"):
                end = j
                break
        out.append((i + 1, m.group(2), "\n".join(lines[i:end])))
    return out


def check_runbook() -> list[str]:
    errors: list[str] = []
    if not os.path.exists(RUNBOOK):
        return [f"{RUNBOOK} does not exist"]
    anchors = runbook_anchors()
    alerts = alert_blocks(read(ALERTS))
    if not alerts:
        errors.append(f"{ALERTS}: no alerts found")
    for line, name, block in alerts:
        where = f"{ALERTS}:{line} {name}"
        sev = [v for _, v in yaml_values(block, "severity")]
        if sev != ["page"] and sev != ["ticket"]:
            errors.append(f"{where}: labels.severity must be page or ticket, got {sev}")
        for key in ("summary", "description"):
            vals = [v for _, v in yaml_values(block, key)]
            if len(vals) != 1 or not vals[0].strip():
                errors.append(f"{where}: needs exactly one non-empty annotations.{key}")
        urls = [v for _, v in yaml_values(block, "runbook_url")]
        if len(urls) != 1:
            errors.append(f"{where}: needs exactly one annotations.runbook_url")
            continue
        url = urls[0]
        if not url.startswith(RUNBOOK_URL_PREFIX):
            errors.append(f"{where}: runbook_url must start with {RUNBOOK_URL_PREFIX}")
            continue
        anchor = url[len(RUNBOOK_URL_PREFIX):]
        if anchor not in anchors:
            errors.append(f"{where}: anchor #{anchor} matches no heading in {RUNBOOK}")
        elif anchor != github_anchor(name):
            errors.append(f"{where}: anchor #{anchor} should be the alert's own section "
                          f"#{github_anchor(name)}")
    # Links inside the runbook must land on a heading too.
    for n, line in enumerate(read(RUNBOOK).splitlines(), 1):
        for target in re.findall(r"\]\(#([^)\s]+)\)", line):
            if target not in anchors:
                errors.append(f"{RUNBOOK}:{n}: link #{target} matches no heading")
    if not errors:
        print(f"{len(alerts)} alerts, every runbook_url anchor is one of {len(anchors)} "
              f"headings in {RUNBOOK}; internal links resolve")
    return errors


# ----------------------------------------------------------------------------- tests
def check_tests() -> list[str]:
    errors: list[str] = []
    names = [name for _, name, _ in alert_blocks(read(ALERTS))]
    fires = {n: 0 for n in names}
    silent = {n: 0 for n in names}
    for path in sorted(glob.glob(TEST_GLOB)):
        lines = read(path).splitlines()
        for i, l in enumerate(lines):
            m = re.match(r"^\s*alertname:\s*(\S+)", l)
            if not m:
                continue
            name = m.group(1)
            if name not in fires:
                errors.append(f"{path}:{i + 1}: test for unknown alert {name}")
                continue
            nxt = next((x for x in lines[i + 1:] if x.strip()), "")
            mm = re.match(r"^\s*exp_alerts:\s*(\[\s*\])?", nxt)
            if not mm:
                errors.append(f"{path}:{i + 1}: alertname not followed by exp_alerts")
            elif mm.group(1):
                silent[name] += 1
            else:
                fires[name] += 1
    for n in names:
        if not fires[n]:
            errors.append(f"alert {n} has no unit test where it fires")
        if not silent[n]:
            errors.append(f"alert {n} has no unit test where it stays silent")
    if not errors:
        print(f"{len(names)} alerts, each with a unit test where it fires "
              f"({sum(fires.values())} firing and {sum(silent.values())} silent expectations)")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["dashboards", "runbook", "tests"])
    ap.add_argument("--promql-out", help="dashboards: write the dashboard queries here as a rule file")
    args = ap.parse_args()
    if args.what == "dashboards":
        errors = check_dashboards(args.promql_out)
    elif args.what == "runbook":
        errors = check_runbook()
    else:
        errors = check_tests()
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
