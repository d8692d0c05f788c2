"""ufm.federated: FedAvg with E = 1 reaches the centralised optimum (an independent numpy/scipy reference),
the decomposition sum_c (N_c/N) f_c = F, the Dirichlet split, a fixed classifier stays fixed, bad input."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.optimize

import ufm
from ufm import federated as fd

ufm.enable_x64()


def _reference_ce(counts, d, lw, lh, seed=0, starts=3):
    """Independent reference: the full (per-sample) CE UFM in numpy, minimised by scipy L-BFGS, multi-start.
    f = (1/N) sum_i CE(W h_i, y_i) + lw/2 ||W||^2 + lh/2 ||H||^2."""
    counts = np.asarray(counts)
    K, N = counts.size, int(counts.sum())
    y = np.repeat(np.arange(K), counts)

    def f(x):
        W, H = x[:K * d].reshape(K, d), x[K * d:].reshape(d, N)
        Z = W @ H
        Z = Z - Z.max(axis=0)
        P = np.exp(Z) / np.exp(Z).sum(axis=0)
        val = -np.mean(np.log(P[y, np.arange(N)])) + lw / 2 * np.sum(W * W) + lh / 2 * np.sum(H * H)
        G = P.copy()
        G[y, np.arange(N)] -= 1
        G /= N
        return val, np.concatenate([(G @ H.T + lw * W).ravel(), (W.T @ G + lh * H).ravel()])

    g = np.random.default_rng(seed)
    return min(scipy.optimize.minimize(f, 0.1 * g.standard_normal(K * d + d * N), jac=True, method="L-BFGS-B",
                                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}).fun
               for _ in range(starts))


def test_fedavg_with_one_local_step_reaches_the_centralised_optimum():
    counts = [[3, 1, 2], [0, 4, 1], [2, 0, 3]]  # skewed, with absent classes
    p = ufm.Problem(counts=(1, 1, 1), d=3, loss="ce", lambda_W=5e-3, lambda_H=5e-3)
    r = fd.run(fd.Federation(problem=p, counts=counts, rounds=2000, local_steps=1, lr=1.0))
    ref = _reference_ce([5, 5, 6], 3, 5e-3, 5e-3)
    # E = 1 gradient descent is preconditioned GD on F (module docstring): 2000 rounds settle to ~1e-10 relative;
    # the reference is L-BFGS to gtol 1e-12. 1e-7 leaves room for both and is far below the E > 1 drift (~1e-3)
    assert r.objective == pytest.approx(ref, rel=1e-7)
    # the decomposition: F at the pooled collapsed features equals the weighted sum of the local objectives
    assert fd.centralised_objective(r.federation, r.params) == pytest.approx(r.objective, rel=1e-12)
    # and E > 1 drifts away from it (client drift), so the test above can tell the two apart
    drift = fd.run(fd.Federation(problem=p, counts=counts, rounds=100, local_steps=20, lr=0.5))
    assert drift.objective > ref * (1 + 1e-5)


def test_a_fixed_etf_stays_fixed_and_unbiased_while_a_learnable_classifier_follows_local_majorities():
    p = ufm.Problem(counts=(8, 8, 8, 8), d=4, loss="ce", lambda_W=5e-3, lambda_H=5e-3)
    kw = dict(clients=4, alpha=0.3, rounds=100, local_steps=10, lr=0.5)
    learn = fd.federate(p, **kw)
    fixed = fd.federate(p.replace(classifier="etf", lambda_W=0.0), adapt_steps=20, **kw)
    assert np.allclose(fixed.classifier, p.replace(classifier="etf").classifier_matrix(), atol=1e-14)
    assert fixed.nc2_etf < 1e-12 and np.all(np.isnan(fixed.local_norm_count_corr))
    # local steps grow the local majorities' rows: correlation of norms with local counts clearly positive
    assert np.nanmean(learn.local_norm_count_corr) > 0.5
    # FedETF's local adaptation (classifier made learnable on each client) brings the local bias back
    assert np.nanmean(fixed.adapted_norm_count_corr) > 0.5


def test_dirichlet_split_is_exact_and_seeded():
    a = fd.dirichlet_counts([10, 7, 3], 4, 0.2, seed=3)
    assert a.shape == (4, 3) and list(a.sum(axis=0)) == [10, 7, 3] and np.all(a.sum(axis=1) >= 1)
    assert np.array_equal(a, fd.dirichlet_counts([10, 7, 3], 4, 0.2, seed=3))
    iid = fd.dirichlet_counts([1000, 1000], 2, 1e6, seed=0)  # alpha -> inf: an even split
    assert np.all(np.abs(iid - 500) <= 2)


@pytest.mark.parametrize("kwargs, field", [
    (dict(counts=[[1, 2], [0, 0]]), "counts"), (dict(counts=[[1, 0], [1, 0]]), "counts"),
    (dict(counts=[[1, 2]], rounds=0), "rounds"), (dict(counts=[[1, 2]], optimizer="sgd"), "optimizer"),
    (dict(counts=[[1, 2]], lr=float("nan")), "lr"), (dict(counts=[[1, 2, 3]]), "counts"),
    (dict(counts=[[1, 2], [3]]), "counts"), (dict(counts=[[1, 2]], lr="fast"), "lr"),
    (dict(counts=[[1, 2]], rounds=2.5), "rounds"), (dict(counts=[[1, 2]], rounds="4.0"), "rounds"),
    (dict(counts=[[1, 2]], local_steps="3"), "local_steps"), (dict(counts=[[1, 2]], lr="0.1"), "lr")])
def test_bad_federation_is_one_clear_error(kwargs, field):
    with pytest.raises(ufm.ProblemError) as e:
        fd.Federation(problem=ufm.Problem(counts=(1, 1), d=2), **kwargs)
    assert e.value.field == field


def test_cli_bad_flag_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "ufm", "fed", "-K", "3", "--alpha", "0"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "--alpha" in out.stderr
