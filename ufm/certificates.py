"""How sure is a solve? Levels of evidence, each defined once (docs/theory.md section 13).

``certify(solution)`` gathers three kinds of evidence and states the strongest level that holds:

1. **Convex certificate** (M = 1, linear, learnable classifier, one-hot targets, a loss with a conjugate):
   ``ufm.convex`` gives a rigorous lower bound (weak Fenchel duality); the solution is ``certified`` when
   ``objective - lower_bound <= rtol * |objective|`` (relative: meaningful at any weight decay; values
   below ``ufm.loop.F_FLOOR`` count as 0) and the bound is attained (the convex optimum has rank <= d). For
   d < K the bound may not be attained; the gap is reported all the same (it is the rank-free relaxation's
   bound: valid for every d, not tight for d < K - 1). For the balanced normalised CE UFM
   (``Problem.feature_radius`` / ``classifier_radius``), where the convex program does not apply, the sphere
   bound of ``ufm.sphere`` takes its place (``lower_bound_kind``: ``"convex"`` or ``"sphere"``): attained
   (certified) for d >= K - 1, a strict lower bound with its gap for K > d + 1.
2. **Reduced-problem global search** (``ufm.reduced``, any depth, when the master reduction applies): structured
   and random starts on the K-column problem. ``search-agreed`` when it finds nothing lower than the solution
   (within rtol), with how many of its starts reached the best value.
3. **Second-order check** (``ufm.curvature``): Lanczos on Hessian-vector products modulo the rotation (and
   bias-shift) symmetries: ``minimum`` / ``degenerate`` / ``saddle``; ``non-smooth point`` (no verdict) where a
   ReLU model's pre-activations sit at the kink (``ufm.nonlinear.kinks``).

Non-linear (ReLU) models: the convex certificate and the reduced search refuse (``requires(linear=True)``),
with the reason in the evidence; the search of ``ufm.nonlinear`` (DNC, low-rank and random starts) gives
``search-agreed`` at best -- never ``certified``.

Levels, strongest first: ``certified`` (1, and no saddle), ``search-agreed`` (2, and no saddle),
``local-minimum`` (3 only), ``none``. A point whose second-order check says ``saddle`` is never certified at
any level (``level = "saddle"``), and a lower point found by 1 or 2 replaces the solution (``improved_by``).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ufm import convex, curvature, nonlinear, reduced, sphere
from ufm import objective as obj
from ufm.loop import F_FLOOR, same_value
from ufm.solution import Solution
from ufm.solver import Program, SolverOptions, search_applicable, solve

#: relative tolerance under which a gap certifies the optimum and two objective values are equal
CERT_RTOL = 1e-8

LEVELS = ("certified", "search-agreed", "local-minimum", "saddle", "none")


def tolerance(value: float, rtol: float = CERT_RTOL) -> float:
    """rtol * max(|value|, F_FLOOR): the one acceptance tolerance of certificates."""
    return rtol * max(abs(value), F_FLOOR)


def _solver_options(solution: Solution) -> SolverOptions:
    keep = {f.name for f in dataclasses.fields(SolverOptions)}
    opts = {k: v for k, v in (solution.options or {}).items() if k in keep}
    return SolverOptions(**{**opts, "restarts": 1, "search": "never"})


def second_order_at(problem, params: dict, *, reduced: bool = False, steps: int = 120, seed: int = 0,
                    rtol: float = curvature.RTOL) -> dict:
    """The second-order verdict of ``ufm.curvature`` for ``problem`` at parameters ``params`` (full, or
    class-reduced with ``reduced=True``): minimum / degenerate / saddle modulo the exact symmetries."""
    program = Program.of(problem, reduced)
    if not problem.linear:
        kinks = nonlinear.kinks(problem, program.full(params))
        if kinks["count"]:  # no Hessian at a kink: no verdict rather than a wrong one
            return {"verdict": "non-smooth point", "kinks": kinks, "min_eigenvalue": float("nan"),
                    "max_eigenvalue": float("nan"),
                    "why": "pre-activations at the kink of the activation: the Hessian does not exist there"}
    return curvature.second_order(problem, program.f, params, program.data, steps=steps, seed=seed, rtol=rtol)


def second_order(solution: Solution, *, steps: int = 120, seed: int = 0, rtol: float = curvature.RTOL) -> dict:
    """:func:`second_order_at` the solution, in the coordinates it was solved in (the class-reduced problem's
    Hessian has the same signature as the full one's, docs/theory.md section 4)."""
    params = obj.collapse(solution.problem, solution.params()) if solution.reduced else solution.params()
    return second_order_at(solution.problem, params, reduced=solution.reduced, steps=steps, seed=seed, rtol=rtol)


def certify(solution: Solution, *, search: Optional[bool] = None, hessian: bool = True,
            search_restarts: int = 16, seed: int = 0, rtol: float = CERT_RTOL) -> Solution:
    """Attach a certificate to ``solution`` (returns a new Solution; a better point found replaces it).

    ``certificate`` keys: ``level`` (module docstring), ``evidence`` (one line per kind of evidence),
    ``lower_bound``, ``gap``, ``relative_gap``, ``bound_attained``, ``certified`` (convex, M = 1),
    ``search`` (default for depth > 1 and for d < K, and whenever the convex bound is not attained),
    ``improved_by`` when a step found a lower objective, ``distinct_objectives`` across restarts and
    ``second_order``.
    """
    problem = solution.problem
    options = _solver_options(solution)
    cert = dict(solution.certificate or {})
    evidence = []
    cert["distinct_objectives"] = [{"value": v, "count": c} for v, c in solution.distinct_objectives()]
    convex_ok, why_not = convex.applicable(problem)
    attained, kind = False, None
    if convex_ok:
        res = convex.solve_convex(problem, Z0=solution.mean_logits, b0=solution.bias)
        attained = res.rank <= problem.d
        if attained and res.value < solution.objective - tolerance(solution.objective, rtol):
            better = solve(problem, options, init=convex.lift(problem, res.Z, res.b))
            cert["improved_by"] = {"step": "convex", "from": solution.objective, "to": better.objective}
            solution = _keep_runs(better, solution)
        kind, label, bound = "convex", "convex dual bound", res.lower_bound
        unattained = f"the convex optimum has rank {res.rank} > d"
    elif sphere.applicable(problem)[0]:
        sb = sphere.bound(problem)
        kind, label, bound, attained = "sphere", "sphere lower bound", sb.value, sb.attained
        unattained = f"no simplex ETF fits in d = {problem.d} < K - 1"
    if kind is not None:  # a lower bound applies: convex dual or sphere
        gap = solution.objective - bound
        cert.update({"lower_bound": bound, "gap": gap, "relative_gap": gap / max(abs(solution.objective), F_FLOOR),
                     "bound_attained": attained, "lower_bound_kind": kind})
        cert["certified"] = bool(attained and gap <= tolerance(solution.objective, rtol))
        evidence.append(f"{label} {bound:.15g}, gap {gap:.3e} (relative {cert['relative_gap']:.1e}"
                        + ("; below 0 by rounding: value and bound agree to the last digits" if gap < 0 else "")
                        + ("" if attained else f"; not attained: {unattained}") + ")")
    else:
        cert["certified"] = False
        cert["why_not_certified"] = f"no convex certificate: {why_not}"
        evidence.append(cert["why_not_certified"])
    if search is None:  # the next level of evidence wherever the convex certificate does not settle it
        search = problem.depth > 1 or problem.d < problem.K or not cert["certified"]
    search_ok, search_why = search_applicable(problem)
    agreed = False
    if search and search_ok and not problem.linear:
        found = nonlinear.search(problem, restarts=search_restarts, seed=seed, loop=options.loop,
                                 max_iter=options.max_iter, gtol=options.gtol)
        polished = solve(problem, options, init=found.params)
        reached = sum(1 for _, run in found.runs if same_value(run.objective, found.objective, rtol))
        cert["search"] = {**found.summary(), "polished_objective": polished.objective,
                          "starts_reaching_best": reached}
        if polished.objective < solution.objective - tolerance(solution.objective, rtol):
            cert["improved_by"] = {"step": "non-linear search", "from": solution.objective,
                                   "to": polished.objective}
            solution = _keep_runs(polished, solution)
        agreed = polished.objective >= solution.objective - tolerance(solution.objective, rtol)
        evidence.append(f"non-linear global search (DNC, low-rank and random starts): {len(found.runs)} starts, "
                        f"{reached} reached the best value {found.objective:.15g}; nothing lower than the solution"
                        if agreed else "non-linear global search found a lower point")
    elif search and search_ok:
        found = reduced.reduced_search(problem, restarts=search_restarts, seed=seed, loop=options.loop,
                                       max_iter=options.max_iter, gtol=options.gtol)
        polished = solve(problem, options, init=obj.lift(problem, found.params))
        reached = sum(1 for _, run in found.runs if same_value(run.objective, found.objective, rtol))
        cert["search"] = {**found.summary(), "polished_objective": polished.objective,
                          "starts_reaching_best": reached}
        if polished.objective < solution.objective - tolerance(solution.objective, rtol):
            cert["improved_by"] = {"step": "reduced search", "from": solution.objective, "to": polished.objective}
            solution = _keep_runs(polished, solution)
        agreed = polished.objective >= solution.objective - tolerance(solution.objective, rtol)
        evidence.append(f"global search: {len(found.runs)} starts, {reached} reached the best value "
                        f"{found.objective:.15g}; nothing lower than the solution" if agreed else
                        "global search found a lower point")
    elif search:
        cert["search"] = {"skipped": search_why}
        evidence.append(f"no global search: {search_why}")
    verdict = None
    if hessian:
        cert["second_order"] = second_order(solution, seed=seed)
        verdict = cert["second_order"]["verdict"]
        if verdict == "non-smooth point":
            evidence.append(f"second order: non-smooth point ({cert['second_order']['kinks']['count']} "
                            "pre-activations at the ReLU kink: no Hessian, no verdict)")
        else:
            evidence.append(f"second order: {verdict} (Hessian eigenvalues in "
                            f"[{cert['second_order']['min_eigenvalue']:.3e}, "
                            f"{cert['second_order']['max_eigenvalue']:.3e}] modulo symmetries)")
    if verdict == "saddle":
        cert["certified"] = False
        level = "saddle"
    elif cert["certified"]:
        level = "certified"
    elif agreed:
        level = "search-agreed"
    elif verdict in ("minimum", "degenerate"):
        level = "local-minimum"
    else:
        level = "none"
    cert["level"] = level
    cert["evidence"] = evidence
    return dataclasses.replace(solution, certificate=cert)


def _keep_runs(better: Solution, original: Solution) -> Solution:
    """``better``'s point with ``original``'s run records (so the basins the user's restarts found stay
    visible) plus the better one appended."""
    return dataclasses.replace(better, runs=tuple(original.runs) + tuple(better.runs))
