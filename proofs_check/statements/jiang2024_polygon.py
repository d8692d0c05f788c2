"""Jiang et al. 2024: generalized neural collapse (K > d) in the plane: the regular K-gon."""

from proofs_check.core import Statement
from proofs_check.statements._sphere_cases import check_code, sphere_ce
from ufm import codes
from ufm.theory import PREDICTIONS, spherical

ID = "jiang2024-polygon"


def cases(full, seed):
    out = [spherical_case(5, 2.0, 2.0)]  # the default suite's case: K = 5 > d + 1
    if full:
        out.append(spherical_case(7, 1.0, 3.0))
        out += [spherical_case(K, 2.0, 2.0) for K in (3, 4, 6, 8, 9)]
        out.append(spherical_case(6, 0.3, 0.5, name="K = 6, high temperature (rho = 0.15)"))
        out.append(spherical_case(8, 4.0, 2.5, name="K = 8, low temperature (rho = 10)"))
        out.append(spherical_case(5, 1.5, 1.5, n=3, lambda_W=1e-2, lambda_H=1e-2,
                                  name="K = 5, n = 3, decays (constants on the spheres)"))
    return out


def spherical_case(K, r_H, r_W, name=None, **kw):
    from proofs_check.core import Case

    return Case(name or f"K = {K}, r_H = {r_H}, r_W = {r_W}", sphere_ce(K, 2, r_H, r_W, **kw))


STATEMENT = Statement(
    id=ID, citation=PREDICTIONS["jiang2024_polygon"].source, expected="holds",
    statement=PREDICTIONS["jiang2024_polygon"].statement,
    hypotheses=spherical.applies_polygon, cases=cases, check=check_code("jiang2024_polygon", codes.polygon_distance),
    notes="The paper proves the softmax-code limit (temperature -> 0), where the planar softmax code is the "
          "regular polygon; the finite-temperature claim checked here is stronger than the theorem.")
