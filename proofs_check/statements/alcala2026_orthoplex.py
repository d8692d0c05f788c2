"""Alcala et al. 2026: the orthoplex regime d + 2 <= K <= 2d; for K = 2d the orthoplex."""

from proofs_check.core import Case, Statement
from proofs_check.statements._sphere_cases import check_code, sphere_ce
from ufm import codes
from ufm.theory import PREDICTIONS, spherical

ID = "alcala2026-orthoplex"


def cases(full, seed):
    out = [Case("K = 6, d = 3 (the octahedron)", sphere_ce(6, 3))]
    out.append(Case("K = 8, d = 4 (the 16-cell), rho = 2", sphere_ce(8, 4, 1.0, 2.0)))
    if full:
        out.append(Case("K = 10, d = 5", sphere_ce(10, 5)))
        out.append(Case("K = 6, d = 3, high temperature (rho = 0.25)", sphere_ce(6, 3, 0.5, 0.5)))
        out.append(Case("K = 6, d = 3, n = 2, decays", sphere_ce(6, 3, n=2, lambda_W=1e-2, lambda_H=1e-3)))
    return out


STATEMENT = Statement(
    id=ID, citation=PREDICTIONS["alcala2026_orthoplex"].source, expected="holds",
    statement=PREDICTIONS["alcala2026_orthoplex"].statement,
    hypotheses=spherical.applies_orthoplex, cases=cases,
    check=check_code("alcala2026_orthoplex", codes.orthoplex_distance),
    notes="Checked at finite temperatures; the minimal angle is pi/2, Rankin's bound for d + 2 <= K <= 2d.")
