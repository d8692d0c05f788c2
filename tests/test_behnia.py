"""The vanishing-decay statements of Behnia, Kini, Vakilian & Thrampoulidis 2023 (arXiv 2303.07608): the loss
names they build, their CS-SVM reference against SELI's closed form, their hypotheses and their verdict rule.
(Each statement's default case runs in tests/test_proofs_check.py.)"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import ufm
from proofs_check.core import Case
from proofs_check.statements import behnia2023_cdt_cs_svm as cdt_statement
from proofs_check.statements import behnia2023_la_seli as la_statement
from proofs_check.statements._limits import LAMBDAS, cdt_loss, la_loss, log_rate_verdict
from ufm import losses
from ufm.metrics import gram_distance
from ufm.theory.convex_oracle import seli_logits

COUNTS = (10, 5, 1)


def test_loss_names_follow_the_recipes_and_the_papers_multiplicative_form():
    iota = dict(losses.get(la_loss(COUNTS, 1.5)).params)["iota"]
    assert np.allclose(iota, 1.5 * np.log(np.array(COUNTS) / 16), rtol=1e-15)
    delta = dict(losses.get(cdt_loss(COUNTS, 0.5)).params)["delta"]
    assert np.allclose(delta, np.sqrt([1, 2, 10]), rtol=1e-15)
    # cdt(delta) is the paper's CE(Delta * z) with Delta_k = (n_k / n_max)^gamma (independent numpy; 1e-12
    # relative: O(1) sums of a few float64 terms on both sides)
    g = np.random.default_rng(0)
    Z, y = 3 * g.standard_normal((3, 20)), g.integers(0, 3, 20)
    U = (np.array(COUNTS) / 10.0)[:, None] ** 0.5 * Z
    paper = logsumexp(U, axis=0) - U[y, np.arange(20)]
    ours = losses.get(cdt_loss(COUNTS, 0.5)).per_sample(jnp.asarray(Z), jnp.asarray(np.eye(3)[:, y]))
    assert np.allclose(np.asarray(ours), paper, rtol=1e-12, atol=1e-14)


def test_cs_svm_reference_with_equal_temperatures_is_seli_and_unequal_ones_are_not():
    Z, value = cdt_statement.cs_svm_logits((1.0, 1.0, 1.0), COUNTS, 3, starts=1)
    # equal temperatures: the UFM's SVM, whose solution is SELI (Thrampoulidis et al. 2022); SLSQP stops at
    # ftol = 1e-14 in value, so the direction is good to ~1e-6 (square root of the value's error)
    assert gram_distance(Z, seli_logits(3)) < 1e-5
    delta = np.sqrt([1, 2, 10])
    Z, value = cdt_statement.cs_svm_logits(delta, COUNTS, 3, starts=2)
    margins = np.diag(Z)[None, :] / delta[None, :] - Z / delta[:, None]
    # feasible (every margin >= 1 off the diagonal, to SLSQP's constraint tolerance 1e-8) with an active margin
    assert np.all(margins[~np.eye(3, dtype=bool)] >= 1 - 1e-8) and np.isclose(margins[~np.eye(3, dtype=bool)].min(), 1)
    # at a minimiser the factors are balanced: value = ||Z D^{1/2}||_* (nuclear norm, D = diag(counts)), a
    # necessary condition the non-convex SLSQP search does not impose; 1e-6 relative: its stopping error
    nuc = np.linalg.svd(Z * np.sqrt(COUNTS)[None, :], compute_uv=False).sum()
    assert abs(value - nuc) <= 1e-6 * nuc, (value, nuc)
    # unequal temperatures move the limit away from SELI, so the statement tells CDT's limit from CE's
    assert gram_distance(Z, seli_logits(3)) > 0.3


def test_hypotheses_need_the_statements_loss_and_setting():
    la, cdt = la_statement.STATEMENT.hypotheses, cdt_statement.STATEMENT.hypotheses
    p_la = la_statement.STATEMENT.cases(False, 0)[0].problem
    p_cdt = cdt_statement.STATEMENT.cases(False, 0)[0].problem
    assert p_la.counts == p_cdt.counts == COUNTS and p_la.loss == la_loss(COUNTS, 1.0)
    assert la(p_la)[0] and cdt(p_cdt)[0]
    ok, why = la(p_cdt)
    assert not ok and "logit-adjusted" in why
    ok, why = cdt(ufm.Problem(counts=COUNTS, d=3, loss="ce", lambda_W=1e-3, lambda_H=1e-3))
    assert not ok and "cdt" in why
    ok, why = cdt(ufm.Problem(counts=COUNTS, d=2, loss=cdt_loss(COUNTS, 0.5), lambda_W=1e-3, lambda_H=1e-3))
    assert not ok


@pytest.mark.parametrize("loglog", [False, True])
def test_rate_verdicts(loglog):
    case = Case("synthetic", ufm.Problem(counts=COUNTS, d=3, lambda_W=1e-3, lambda_H=1e-3))
    logs = np.log(1 / np.array(LAMBDAS))
    assert log_rate_verdict(case, list(1.5 / logs), "X", {}, loglog=loglog).verdict == "holds"
    grows = log_rate_verdict(case, [0.1, 0.2, 0.3], "X", {}, loglog=loglog)
    assert grows.verdict == "refuted" and grows.counterexample["distances"] == [0.1, 0.2, 0.3]
    # falling to a non-zero limit (0.3): the product grows like log(1/lambda), outside the band / the log log
    assert log_rate_verdict(case, list(0.3 + 1 / logs), "X", {}, loglog=loglog).verdict == "inconclusive"


def test_sweep_spec_takes_a_per_class_loss_and_refuses_a_bad_one():
    from ufm.errors import SpecError
    from ufm.sweep.spec import parse_spec

    parse_spec(f'[base]\ncounts = [10, 5, 1]\nd = 3\nloss = "{cdt_loss(COUNTS, 0.5)}"\n[axes]\nlambda = [0.01]')
    with pytest.raises(SpecError, match="delta must be > 0"):
        parse_spec('[base]\ncounts = [4, 2, 1]\nd = 3\nloss = "cdt(delta=1/-1/2)"\n[axes]\nlambda = [0.01]')
