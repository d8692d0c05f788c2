"""``ufm fed``: a federated UFM (``ufm.federated``) in one command: the problem flags of ``ufm solve`` give the
template and the pooled counts, ``--clients``/``--alpha`` split them by Dirichlet label skew (or
``--client-counts`` gives the split), and FedAvg runs ``--rounds`` rounds of ``--local-steps`` local steps.
Prints the classifier-bias measurements and, with ``--compare``, the centralised optimum of ``ufm solve`` on
the pooled counts."""

from __future__ import annotations

import json

from ufm.cli import integer
from ufm.cli._solve import add_problem_arguments, flag_names, problem_from_args
from ufm.errors import FlagError

#: Federation / partition field -> flag, over the problem's and solver's ``ufm.cli._solve.FLAGS`` (which name
#: --seed and --init-scale; a federation's ``counts`` are the clients' split, --client-counts)
FLAGS = {"clients": "--clients", "alpha": "--alpha", "counts": "--client-counts", "rounds": "--rounds",
         "local_steps": "--local-steps", "lr": "--lr", "optimizer": "--optimizer", "adapt_steps": "--adapt-steps",
         "problem": "--classifier"}


def _client_counts(text: str) -> list:
    try:
        rows = [[int(v) for v in row.split(",")] for row in text.split(";") if row.strip()]
    except ValueError:
        raise FlagError("--client-counts", f"must be rows of integers 'a,b,c;d,e,f' (one row per client), got "
                                           f"{text!r}") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise FlagError("--client-counts", "must be rows of equal length 'a,b,c;d,e,f' (one row per client)")
    return rows


def run_fed(args) -> int:
    import numpy as np

    from ufm import federated, solve
    from ufm.solution import jsonable

    options = dict(rounds=args.rounds, local_steps=args.local_steps, lr=args.lr, optimizer=args.optimizer,
                   adapt_steps=args.adapt_steps, seed=args.seed, init_scale=args.init_scale)
    if args.client_counts:
        if {"clients", "alpha", "partition_seed", "counts", "classes", "per_class"} & set(getattr(args, "typed", ())
                                                                                       or ()):
            raise FlagError("--client-counts", "gives the split and the counts: leave out --clients, --alpha, "
                                               "--partition-seed, --counts, --classes, --per-class")
        counts = _client_counts(args.client_counts)
        pooled = [int(v) for v in np.sum(counts, axis=0)]
        args.counts = ",".join(map(str, pooled))
    problem = problem_from_args(args)
    with flag_names(FLAGS):
        if not args.client_counts:
            counts = federated.dirichlet_counts(problem.counts, args.clients, args.alpha, args.partition_seed)
        result = federated.run(federated.Federation(problem=problem, counts=counts, **options))
    out = result.summary()
    out["client_counts"] = [list(r) for r in result.federation.counts]
    if len(result.history) > 1:  # how settled the run is: relative change of F over the last round
        out["last_change"] = float(abs(result.history[-1] - result.history[-2]) / abs(result.history[-1]))
    if args.compare:
        central = solve(result.federation.pooled)
        out["centralised_objective"] = float(central.objective)
        out["gap"] = float(result.objective - central.objective)
    if args.json:
        print(json.dumps(jsonable(out), indent=1, allow_nan=False))  # nan (no correlation defined) -> null
    else:
        for k, v in out.items():
            print(f"{k:24s} {v}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("fed", help="a federated UFM: FedAvg over clients with label skew, classifier bias measured",
                       description="Federated UFM (ufm.federated): the pooled counts of the problem flags split over "
                                   "clients by Dirichlet label skew; FedAvg of the shared layers (classifier "
                                   "learnable, or fixed with --classifier etf, ...), features local; prints the "
                                   "objective and the classifier-bias measurements. Exit 2 for bad flags.")
    add_problem_arguments(p)
    f = p.add_argument_group("federation")
    f.add_argument("--clients", type=integer, default=4, help="number of clients C (default 4)")
    f.add_argument("--alpha", type=float, default=0.5,
                   help="Dirichlet concentration of the label skew (small: skewed; default 0.5)")
    f.add_argument("--partition-seed", type=integer, default=0, help="seed of the Dirichlet split (default 0)")
    f.add_argument("--client-counts", help="the split itself, one row per client: '5,5,0;0,5,5' (replaces "
                                           "--clients/--alpha and the problem's counts)")
    f.add_argument("--rounds", type=integer, default=200, help="FedAvg rounds (default 200)")
    f.add_argument("--local-steps", "-E", type=integer, default=1, help="local steps per round E (default 1)")
    f.add_argument("--lr", type=float, default=0.5, help="local step size (default 0.5)")
    f.add_argument("--optimizer", default="gd", choices=list(("gd", "adam")), help="local optimizer (default gd)")
    f.add_argument("--adapt-steps", type=integer, default=0,
                   help="FedETF local adaptation: local steps with the classifier learnable after the last round")
    f.add_argument("--seed", type=integer, default=0, help="seed of the start (default 0)")
    f.add_argument("--init-scale", type=float, default=0.1, help="std of the random start (default 0.1)")
    f.add_argument("--compare", action="store_true", help="also solve the centralised problem (ufm solve)")
    f.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_fed)
