"""Kini et al. 2023: with non-negative (ReLU) features the supervised-contrastive UFM is minimised by an
orthogonal frame, whatever the class counts."""

from proofs_check.core import Case, Statement
from proofs_check.draws import rng
from proofs_check.statements._supcon_cases import check_value_and_geometry, draw
from ufm import contrastive

ID = "kini2023-supcon-relu-of"


def hypotheses(problem):
    if not isinstance(problem, contrastive.SupCon) or not problem.nonnegative:
        return False, "needs a ufm.contrastive.SupCon problem with non-negative features"
    return problem.d >= problem.K, "needs d >= K"


def cases(full, seed):
    g = rng(ID, seed)
    out = [Case("counts 2, 3, 8, d = 3, tau = 0.3", contrastive.SupCon((2, 3, 8), 3, temperature=0.3,
                                                                       nonnegative=True)),
           Case("counts 6, 2, 2, 4, d = 5, tau = 0.1", contrastive.SupCon((6, 2, 2, 4), 5, temperature=0.1,
                                                                          nonnegative=True))]
    out += [Case(f"random-{i}", draw(g, balanced=bool(i % 2), nonnegative=True)) for i in range(4 if full else 0)]
    return out


STATEMENT = Statement(
    id=ID, expected="holds", hypotheses=hypotheses, cases=cases,
    citation="Kini, Vakilian, Behnia, Gill & Thrampoulidis 2023, 'Symmetric neural-collapse representations with "
             "supervised contrastive loss: the impact of ReLU and batching', arXiv 2306.07960 (full batch)",
    statement="Features entry-wise non-negative on the sphere of radius r (a ReLU at the last layer), d >= K, any "
              "class counts n_k >= 2: the global minimisers of the full-batch supervised contrastive loss form an "
              "orthogonal frame (each class collapsed onto its own coordinate axis), with value (1/N) sum_k n_k "
              "log(n_k - 1 + (N - n_k) exp(-r^2 / tau)).",
    check=check_value_and_geometry(contrastive.orthogonal_frame_value, lambda m: m["orthogonal_frame_distance"]))
