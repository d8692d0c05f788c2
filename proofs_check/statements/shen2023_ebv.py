"""Equiangular basis vectors (Shen, Sun & Wei 2023, arXiv 2303.11637; docs/theory.md section 18): K unit
vectors in R^d, K possibly far above d, with max |cos| close to the Welch / Levenstein lower bound, as
``ufm.frames.ebv`` (the ``classifier="ebv"`` geometry) generates them."""

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult, Statement
from ufm import frames

#: the issue's acceptance: within 1.2x of the bound where K / d is moderate (K <= 3d here)
RATIO = 1.2


def cases(full, seed):
    # default cases cheap (each Problem generates its EBV: ~1-2 s each); the sizes of the docs under full
    moderate = [(20, 10)] + ([(40, 20), (50, 25), (60, 40), (100, 50), (150, 60), (200, 100), (90, 30)] if full
                             else [])
    extreme = [(60, 12), (100, 16), (60, 3), (200, 12), (300, 20)] if full else []
    out = [Case(f"K={K}, d={d} (K/d = {K / d:.1f})", ufm.Problem(counts=(1,) * K, d=d, loss="mse",
                classifier="ebv", lambda_W=0.0), {"moderate": True}) for K, d in moderate]
    out += [Case(f"K={K}, d={d} (K/d = {K / d:.1f}, reported)", ufm.Problem(counts=(1,) * K, d=d, loss="mse",
                 classifier="ebv", lambda_W=0.0), {"moderate": False}) for K, d in extreme]
    return out


def check(case, seed):
    p = case.problem
    W = p.classifier_matrix()
    K, d = W.shape
    mu, bound = frames.coherence(W), frames.coherence_bound(K, d)
    rand = frames.coherence(np.random.default_rng(seed).standard_normal((K, d)))
    norm_err = float(np.max(np.abs(np.linalg.norm(W, axis=1) - 1)))
    errors = {"coherence": mu, "bound": bound, "ratio_to_bound": mu / bound, "random_coherence": rand,
              "unit_norm_err": norm_err}
    if mu < bound * (1 - 1e-12) or norm_err > 1e-12:
        return CaseResult(case.name, "refuted", f"coherence {mu:.4g} below the bound {bound:.4g}, or rows not "
                          "unit: the generator or the bound is wrong", errors,
                          counterexample={"K": K, "d": d, "coherence": mu, "bound": bound})
    limit = RATIO * bound if case.extra["moderate"] else rand
    ok = mu <= limit
    what = f"{RATIO} x bound" if case.extra["moderate"] else "a random draw"
    return CaseResult(case.name, "holds" if ok else "refuted",
                      f"max |cos| {mu:.4f} = {mu / bound:.3f} x bound {bound:.4f} (random draw {rand:.4f}); "
                      f"{'<=' if ok else '>'} {what}", errors,
                      counterexample=None if ok else {"K": K, "d": d, "coherence": mu, "limit": limit})


STATEMENT = Statement(
    id="shen2023-ebv-coherence",
    citation="Shen, Sun & Wei 2023, 'Equiangular basis vectors', arXiv 2303.11637; Welch 1974 / Levenstein "
             "bounds (docs/theory.md section 18)",
    statement="K unit vectors in R^d with max |cos| within 1.2x of the Welch / Levenstein bound exist and "
              "ufm.frames.ebv finds them for K <= 3d; for K far above d it beats a random draw (ratio reported)",
    expected="holds", cases=cases, check=check,
    notes="Found (default cases): 1.05-1.08 x bound for K <= 2.5 d; about 1.2-1.3 x for K / d = 6-20.")
