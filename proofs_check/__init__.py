"""One check per published UFM statement (see proofs_check/README.md and docs/check.md).

    from proofs_check import load_statements, run_statement
    result = run_statement(load_statements()["zhu2021-balanced-ce"])
"""

from proofs_check.core import (Case, CaseResult, Statement, StatementResult, aggregate, check_prediction,
                               load_statements, run_statement, search_best)

__all__ = ["Case", "CaseResult", "Statement", "StatementResult", "aggregate", "check_prediction",
           "load_statements", "run_statement", "search_best"]
