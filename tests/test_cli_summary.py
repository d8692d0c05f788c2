"""Solution.summary(), what `ufm solve` prints: a saddle or a run that did not converge is said first on the
status line; the second-order line; how the point was found (random starts, the global search)."""

import ufm
from ufm.solver import solve


def _line(summary, label):
    return next(line for line in summary.splitlines() if line.startswith(label))


SMALL = ufm.Problem.balanced(3, 2, 3, lambda_W=5e-3, lambda_H=5e-3)


def test_saddle_is_the_first_word_of_the_status_line():
    sol = solve(SMALL, init_scale=0.0, escapes=0)
    text = sol.summary()
    assert _line(text, "status").startswith("status     SADDLE (not a minimum)")
    lines = text.splitlines()
    second = lines[lines.index(_line(text, "status")) + 1].strip()
    assert second.startswith("second order: SADDLE: negative curvature") and "not a minimum" in second


def test_escaped_saddle_is_reported_on_the_second_order_line():
    text = solve(SMALL, init_scale=0.0).summary()
    assert _line(text, "status").startswith("status     converged")
    assert "second order: no negative curvature" in text and "saddle escape(s)" in text


def test_not_converged_is_the_first_word_of_the_status_line():
    sol = solve(SMALL, max_iter=2, polish="never")
    assert sol.status == "max_iter"
    text = sol.summary()
    assert _line(text, "status").startswith("status     NOT CONVERGED (max_iter)")
    assert "second order: not checked" in text


def test_found_by_names_the_starts_and_the_global_search():
    deep = ufm.Problem.balanced(4, 5, 4, depth=3, lambda_W=1e-3, lambda_H=1e-3)
    found = _line(solve(deep).summary(), "found by")
    assert found.startswith("found by   1 random start + global search on the reduced problem (")
    assert "reached its best value" in found
    assert "global search off (search=never)" in _line(solve(deep, search="never").summary(), "found by")
    one = solve(SMALL, restarts=2)
    assert _line(one.summary(), "found by").startswith("found by   2 random starts; no global search")
    assert "given start" in _line(solve(SMALL, init=one.params()).summary(), "found by")
    assert "of which compiling" in _line(one.summary(), "time")
