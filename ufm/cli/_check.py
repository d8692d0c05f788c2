"""``ufm check``: verify the literature's UFM statements numerically (proofs_check).

Errors of the user's own statement files are one line naming ``--statements`` and exit status 2, never a
traceback: a syntax error (with its line), a file without ``STATEMENT`` / ``STATEMENTS`` (``proofs_check.core``),
a ``Prediction`` whose ``applies`` does not return ``(bool, reason)``, a ``hypotheses`` that does not, or a
``check`` that does not return a ``CaseResult`` (caught here, around each statement's functions, not globally).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from ufm.cli import integer
from ufm.errors import FlagError

#: the message of ``ufm.theory.Prediction`` when a user's ``applies`` returns something else than (bool, reason)
_APPLIES_CONTRACT = "applies(problem) must return (bool, reason)"


def register(sub) -> None:
    p = sub.add_parser("check", help="check every encoded theorem of the literature (the main job)",
                       description="Run the proofs_check statements: hypotheses, symbolic prediction, numeric "
                                   "verdict (holds / refuted with counterexample / inconclusive). Exit status 1 "
                                   "if any verdict differs from the expected one (a statement expected to be "
                                   "inconclusive counts when it is).")
    p.add_argument("--list", action="store_true", help="list the statements and exit")
    p.add_argument("--only", action="append", metavar="ID", help="run only this statement (repeatable)")
    p.add_argument("--full", action="store_true", help="more parameter cases per statement")
    p.add_argument("--seed", type=integer, default=0, help="seed of the random parameter draws and restarts")
    p.add_argument("--report", metavar="DIR", help="write DIR/report.md and DIR/report.json (DIR is created)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--statements", action="append", default=[], metavar="FILE.py",
                   help="also load the statements of this Python file (your own conjecture; repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from proofs_check import load_statements, run_statement

    if not 0 <= args.seed <= 2 ** 32 - 1:
        raise FlagError("--seed", f"must be an integer >= 0 and <= {2 ** 32 - 1}, got {args.seed}")
    if args.report:
        check_report_dir(args.report)
    statements = load_statements(args.statements)
    if args.only:
        unknown = [i for i in args.only if i not in statements]
        if unknown:
            raise FlagError("--only", f"unknown statement id(s) {unknown}; known: {sorted(statements)}")
        statements = {i: statements[i] for i in args.only}
    statements = {i: guarded(s) for i, s in statements.items()}
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
    # exit 0 when every verdict is the expected one; a statement whose expected verdict is "inconclusive" (an
    # empirical claim the search cannot settle, e.g. garrod2024-relu) counts only when it stays inconclusive
    ok = all(r.as_expected for r in results)
    payload = {"ok": ok, "seconds": total, "seed": args.seed, "full": args.full,
               "statements": [r.to_dict() for r in results]}
    if args.report:
        write_report(Path(args.report), results, payload)
    if args.json:
        print(json.dumps(payload))
    else:
        print(format_table(results, total))
        if args.report:
            directory = Path(args.report)
            print(f"report written to {directory / 'report.md'} and {directory / 'report.json'}")
    return 0 if ok else 1


def check_report_dir(text: str) -> None:
    """``--report DIR``: checked before the statements run (minutes): DIR is a directory or can be created."""
    directory = Path(text)
    if directory.exists() and not directory.is_dir():
        raise FlagError("--report", f"{text} is a file; give a directory (it is created if missing)")
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise FlagError("--report", f"{existing} is a file, so {text} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FlagError("--report", f"{existing} is not writable")


def guarded(stmt):
    """``stmt`` with its ``check`` and ``hypotheses`` wrapped so that a broken contract of the user's code is one
    line (a FlagError naming ``--statements`` and the statement) rather than a traceback: ``applies`` of a
    ``Prediction`` not returning (bool, reason) (the TypeError of ``ufm.theory``), ``hypotheses`` not returning
    (bool, reason), ``check`` not returning a ``CaseResult``. Other exceptions keep their traceback."""
    from proofs_check.core import CaseResult

    def contract_error(message: str):
        return FlagError("--statements", f"statement {stmt.id!r}: {message}")

    def check(case, seed):
        try:
            res = stmt.check(case, seed)
        except TypeError as e:
            if _APPLIES_CONTRACT in str(e):
                raise contract_error(str(e)) from None
            raise
        except ValueError as e:  # check_prediction on a case outside the prediction's hypotheses
            if "does not apply to case" in str(e):
                raise contract_error(str(e)) from None
            raise
        if not isinstance(res, CaseResult):
            raise contract_error(f"check(case, seed) must return a proofs_check.CaseResult, got "
                                 f"{type(res).__name__} {res!r:.60}")
        return res

    hypotheses = None
    if stmt.hypotheses is not None:
        def hypotheses(problem):
            try:
                result = stmt.hypotheses(problem)
            except TypeError as e:
                if _APPLIES_CONTRACT in str(e):
                    raise contract_error(str(e)) from None
                raise
            if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str)):
                raise contract_error(f"hypotheses(problem) must return (bool, reason), got {type(result).__name__} "
                                     f"{result!r:.60}")
            if not result[0]:
                raise contract_error(f"a case's problem fails the statement's own hypotheses: {result[1]} "
                                     f"({problem.describe()})")
            return result

    return dataclasses.replace(stmt, check=check, hypotheses=hypotheses)


def format_table(results, total) -> str:
    lines = [f"{'statement':38s} {'verdict':13s} {'expected':13s} cases  time", "-" * 82]
    for r in results:
        flag = "" if r.as_expected else "  <-- UNEXPECTED"
        lines.append(f"{r.id:38s} {r.verdict:13s} {r.expected:13s} {len(r.cases):5d} {r.seconds:5.1f}s{flag}")
    lines.append("-" * 82)
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
