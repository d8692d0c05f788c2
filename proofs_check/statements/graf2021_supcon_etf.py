"""Graf et al. 2021: the balanced supervised-contrastive UFM is minimised by collapse to a regular simplex."""

from proofs_check.core import Case, Statement
from proofs_check.draws import rng
from proofs_check.statements._supcon_cases import check_value_and_geometry, draw
from ufm import contrastive

ID = "graf2021-supcon-etf"


def hypotheses(problem):
    if not isinstance(problem, contrastive.SupCon) or problem.nonnegative:
        return False, "needs a ufm.contrastive.SupCon problem with features on the whole sphere"
    if not problem.is_balanced:
        return False, "needs balanced classes"
    return (problem.d >= problem.K - 1), "needs d >= K - 1"


def cases(full, seed):
    g = rng(ID, seed)
    out = [Case("K = 4, n = 3, d = 3, tau = 0.1", contrastive.SupCon.balanced(4, 3, 3, temperature=0.1)),
           Case("K = 3, n = 2, d = 5, r = 2, tau = 1", contrastive.SupCon.balanced(3, 2, 5, temperature=1.0,
                                                                                  feature_radius=2.0))]
    out += [Case(f"random-{i}", draw(g, balanced=True)) for i in range(4 if full else 0)]
    return out


def symbolic_checks() -> dict:
    """The loss at the collapsed simplex (positives at similarity rho^2, negatives at -rho^2 / (K - 1)) equals
    the bound log(n - 1 + n (K - 1) exp(-rho^2 K / (K - 1)))."""
    import sympy as sp

    n, K, rho2 = sp.symbols("n K rho2", positive=True)
    at_simplex = sp.log((n - 1) * sp.exp(rho2) + n * (K - 1) * sp.exp(-rho2 / (K - 1))) - rho2
    bound = sp.log(n - 1 + n * (K - 1) * sp.exp(-rho2 * K / (K - 1)))
    return {"loss at the simplex = Graf bound": sp.simplify(sp.expand_log(sp.exp(at_simplex) - sp.exp(bound),
                                                                           force=True)) == 0}


STATEMENT = Statement(
    id=ID, expected="holds", hypotheses=hypotheses, cases=cases, symbolic=symbolic_checks,
    citation="Graf, Hofer, Niethammer & Kwitt 2021, 'Dissecting supervised contrastive learning', ICML 2021, "
             "arXiv 2102.08817 (full batch; the bound derived in docs/theory.md section 22)",
    statement="Balanced classes, features on the sphere of radius r, temperature tau, d >= K - 1: the supervised "
              "contrastive loss is minimised exactly when every class collapses to one point and the K points form "
              "a regular simplex inscribed in the sphere; the minimum is log(n - 1 + n (K - 1) exp(-r^2 K / ((K - 1) "
              "tau))) per sample.",
    check=check_value_and_geometry(contrastive.bound, lambda m: m["etf_distance"],
                                   init=lambda p: contrastive.simplex_features(p)))

