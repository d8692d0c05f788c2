"""``ufm check``: verify the literature's UFM statements numerically (proofs_check)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ufm.problem import ProblemError


def register(sub) -> None:
    p = sub.add_parser("check", help="check every encoded theorem of the literature (the main job)",
                       description="Run the proofs_check statements: hypotheses, symbolic prediction, numeric "
                                   "verdict (holds / refuted with counterexample / inconclusive). Exit status 1 "
                                   "if any verdict differs from the expected one or is inconclusive.")
    p.add_argument("--list", action="store_true", help="list the statements and exit")
    p.add_argument("--only", action="append", metavar="ID", help="run only this statement (repeatable)")
    p.add_argument("--full", action="store_true", help="more parameter cases per statement")
    p.add_argument("--seed", type=int, default=0, help="seed of the random parameter draws and restarts")
    p.add_argument("--report", metavar="DIR", help="write DIR/report.md and DIR/report.json")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--statements", action="append", default=[], metavar="FILE.py",
                   help="also load the statements of this Python file (your own conjecture; repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from proofs_check import load_statements, run_statement

    statements = load_statements(args.statements)
    if args.only:
        unknown = [i for i in args.only if i not in statements]
        if unknown:
            raise ProblemError("--only", f"unknown statement id(s) {unknown}; known: {sorted(statements)}")
        statements = {i: statements[i] for i in args.only}
    if args.list:
        for s in statements.values():
            print(f"{s.id:32s} expected {s.expected:9s} {s.citation}")
            print(f"{'':32s} {s.statement}")
        return 0

    quiet = args.quiet or args.json
    results = []
    t0 = time.perf_counter()
    n = len(statements)
    for i, stmt in enumerate(statements.values()):
        def progress(sid, j, total, name, i=i):
            if not quiet:
                print(f"\r[{i + 1}/{n}] {sid}: case {j + 1}/{total} ({name})"[:110].ljust(110), end="",
                      file=sys.stderr, flush=True)

        res = run_statement(stmt, full=args.full, seed=args.seed, progress=progress)
        results.append(res)
        if not quiet:
            mark = "ok" if res.as_expected else "UNEXPECTED"
            print(f"\r[{i + 1}/{n}] {res.id}: {res.verdict} ({mark}, {len(res.cases)} cases, {res.seconds:.1f} s)"
                  .ljust(110), file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    ok = all(r.as_expected and r.verdict != "inconclusive" for r in results)
    payload = {"ok": ok, "seconds": total, "seed": args.seed, "full": args.full,
               "statements": [r.to_dict() for r in results]}
    if args.report:
        write_report(Path(args.report), results, payload)
    if args.json:
        print(json.dumps(payload))
    else:
        print(format_table(results, total))
        if args.report:
            print(f"report written to {args.report}/report.md and report.json")
    return 0 if ok else 1


def format_table(results, total) -> str:
    lines = [f"{'statement':38s} {'verdict':13s} {'expected':9s} cases  time", "-" * 78]
    for r in results:
        flag = "" if r.as_expected else "  <-- UNEXPECTED"
        lines.append(f"{r.id:38s} {r.verdict:13s} {r.expected:9s} {len(r.cases):5d} {r.seconds:5.1f}s{flag}")
    lines.append("-" * 78)
    good = sum(r.as_expected for r in results)
    lines.append(f"{good}/{len(results)} verdicts as expected in {total:.1f} s")
    for r in results:
        for c in r.cases:
            if c.verdict == "refuted":
                lines.append(f"\n{r.id} REFUTED on case '{c.case}': {c.message}")
                lines.append(_format_counterexample(c.counterexample))
                break
    return "\n".join(lines)


def _format_counterexample(ce) -> str:
    if not ce:
        return ""
    out = []
    prob = ce.get("parameters", {})
    if prob:
        out.append("  parameters: " + ", ".join(f"{k}={v}" for k, v in prob.items()
                                                if k in ("counts", "d", "depth", "loss", "bias", "lambda_W",
                                                         "lambda_H", "lambda_b")))
    for key in ("predicted_objective", "found_objective", "difference", "certified_lower_bound"):
        if key in ce:
            out.append(f"  {key}: {ce[key]:.15g}")
    geo = ce.get("found_geometry")
    if geo:
        out.append(f"  found geometry: rank {geo['rank']}, singular values of W Hbar {geo['singular_values']}")
        out.append("  W Hbar (class-mean logits) =")
        out += ["    " + "  ".join(f"{v:10.5f}" for v in row) for row in geo["logits_WHbar"]]
    return "\n".join(out)


def write_report(directory: Path, results, payload) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(payload, indent=1))
    lines = ["# ufm check report", "", f"{sum(r.as_expected for r in results)}/{len(results)} verdicts as expected, "
             f"{payload['seconds']:.1f} s, seed {payload['seed']}{', full' if payload['full'] else ''}.", "",
             "| statement | verdict | expected | cases | worst errors | time (s) |", "|---|---|---|---|---|---|"]
    for r in results:
        worst = ", ".join(f"{k} {v:.1e}" for k, v in sorted(r.worst_errors().items())[:4])
        lines.append(f"| `{r.id}` | **{r.verdict}** | {r.expected} | {len(r.cases)} | {worst} | {r.seconds:.1f} |")
    for r in results:
        lines += ["", f"## {r.id}", "", f"*{r.citation}*", "", r.statement, "",
                  f"Verdict: **{r.verdict}** (expected {r.expected}).", ""]
        if r.symbolic:
            lines += ["Symbolic facts (sympy):", ""] + [f"- {k}: {'verified' if v else 'NOT verified'}"
                                                      for k, v in r.symbolic.items()] + [""]
        lines += ["| case | verdict | message | time (s) |", "|---|---|---|---|"]
        for c in r.cases:
            lines.append(f"| {c.case} | {c.verdict} | {c.message.replace('|', '/')} | {c.seconds:.1f} |")
        for c in r.cases:
            if c.counterexample:
                lines += ["", f"Counterexample ({c.case}):", "", "```", _format_counterexample(c.counterexample), "```"]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
