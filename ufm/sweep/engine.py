"""The sweep engine: expand a spec, skip what is done, solve the rest in batches, write chunks, merge.

Rows: one per (grid point, restart): ``point_id``, ``restart``, ``seed``, ``method``, the point's axis values
(``axes_json``, always, and a typed ``axis_<name>`` for every axis whose values have one type), the problem
(``K``, ``N``, ``counts`` (list), ``d``, ``depth``, ``loss``, ``bias``, ``lambda_W`` (list, one per layer),
``lambda_W0``, ``lambda_H``, ``lambda_b``, ``feature_radius`` and ``classifier_radius``: nan when free),
``objective``, ``status``, ``grad_norm``, ``stationarity``, ``iterations``, ``escapes``, ``min_eigenvalue``,
the scalar metrics (``nc1``, ``nc2_etf``, ``nc3``,
``nc4``, ...), ``diag_WHbar`` (list) and ``diag_WHbar_min``, and for each prediction ``pred_<name>_objective``
plus its errors ``pred_<name>_<error>``. With ``search = true`` each point has one more row, restart index
``restarts``, ``method = "reduced-search"``: the global search of ``ufm.solve`` (random restarts of deep models
stop at saddles and spurious critical points; see docs/sweep.md). Row (point, r) for r < restarts is the run
of random start r of ``ufm.solve`` with the spec's solver options (``ufm.objective.start_key(seed, r)``, the
same loop, class reduction, rebalancing, Newton polish and saddle check), so it reproduces ``ufm solve --seed S``
run r bit for bit. A point whose Problem
is invalid, or a run that fails, becomes a row with ``status`` = ``invalid`` / ``failed`` and the message in
``error``; the sweep goes on (a rerun computes failed rows again).

Several processes: each takes the points with ``point_id % num_processes == process_id``
(``jax.distributed`` gives the process id and count); all write chunks into the same directory; the merge
(process 0 when everyone is done, or any later rerun) deduplicates by (point_id, restart).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import jax
import numpy as np

from ufm import limits
from ufm import objective as obj
from ufm.errors import FlagError, UfmError, out_of_memory
from ufm.solution import Solution
from ufm.solver import SolverOptions, finish_run, plan, search_applicable, search_label, search_run
from ufm.sweep import store
from ufm.sweep.batch import batch_key, solve_batch
from ufm.sweep.spec import SweepSpec

SCALAR_METRICS = ("nc1", "cdnv", "nc2_etf", "nc2_etf_means", "nc2_equinorm_means", "nc2_equiangular", "nc3",
                  "unc3", "nc4", "gnc2")


class Progress:
    """A one-line progress display on stderr: done / total, rate, ETA."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True):
        self.total, self.done, self.start_done = total, done, done
        self.t0 = time.perf_counter()
        self.enabled = enabled

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        rate = (self.done - self.start_done) / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.done / max(self.total, 1)
        bar = "#" * int(pct / 5)
        print(f"\r[{bar:20s}] {self.done}/{self.total} rows ({pct:5.1f}%)  {rate:6.2f} rows/s  ETA {eta:6.0f} s",
              end="", file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        """One line on stderr (on a line of its own when the bar is drawn)."""
        print(("\n" if self.enabled else "") + text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)
            self.enabled = False


def _axis_cell(kind: str, v):
    if kind == "float":
        return float(v)
    if kind == "list<float>":
        return [float(x) for x in v]
    return v


def _row_base(spec: SweepSpec, pid: int, point: dict, restart: int, seed: int, types: Optional[dict] = None) -> dict:
    """The key and the axis values of a row, stored type-stably whatever the values: ``axes_json`` (the point as
    JSON, always) and a typed ``axis_<name>`` column for each axis whose values all have one type
    (``SweepSpec.axis_types``; a mixed axis such as ``d = [3, "x"]`` has only the JSON)."""
    types = spec.axis_types() if types is None else types
    row = {"point_id": pid, "restart": restart, "seed": seed,
           "axes_json": json.dumps(point, sort_keys=True, default=str)}
    for k, v in point.items():
        if types.get(k) is not None:
            row[f"axis_{k}"] = _axis_cell(types[k], v)
    return row


#: the ``method`` of a point's global-search row (``ufm.solver.search_label``)
SEARCH_METHODS = ("reduced-search", "nonlinear-search")


def _problem_columns(p) -> dict:
    out = {"K": p.K, "N": p.N, "counts": [int(c) for c in p.counts], "d": p.d, "depth": p.depth, "loss": p.loss,
           "bias": p.bias, "lambda_W": [float(v) for v in p.lambda_W], "lambda_W0": float(p.lambda_W[0]),
           "lambda_H": p.lambda_H, "lambda_b": p.lambda_b,
           "feature_radius": float("nan") if p.feature_radius is None else p.feature_radius,
           "classifier_radius": float("nan") if p.classifier_radius is None else p.classifier_radius}
    if not p.linear:  # linear sweeps keep their columns as before
        out["activation"] = p.activation
        out["activate_features"] = p.activate_features
    if p.samples is not None:  # a sample design (mixup): its fields as JSON (N above counts its samples)
        to_dict = getattr(p.samples, "to_dict", None)
        out["samples_json"] = json.dumps(to_dict() if callable(to_dict) else repr(p.samples), default=str)
    return out


def _result_columns(spec: SweepSpec, problem, program, record, search=None) -> dict:
    """The result columns of one row: the run's record, the scalar metrics, diag(W Hbar) and the predictions."""
    label, run, curv, esc = record
    sol = Solution.from_runs(problem, [record], reduced=program.reduce, search=search)
    out = {"objective": run.objective, "status": str(run.status), "grad_norm": run.grad_norm,
           "stationarity": run.stationarity, "iterations": run.iterations, "escapes": esc,
           "min_eigenvalue": float("nan") if curv is None else curv.min_eigenvalue, "error": ""}
    try:
        m = sol.metrics(per_layer=False)
        out.update({k: float(m[k]) for k in SCALAR_METRICS if k in m})
    except Exception as e:  # metrics of a degenerate point: record, never lose the row
        out["error"] = f"metrics: {e}"
    Z = sol.mean_logits if problem.samples is None else np.full((problem.K, problem.K), np.nan)
    diag = np.diag(Z)
    out["diag_WHbar"] = [float(v) for v in diag]
    out["diag_WHbar_min"] = float(np.min(diag))
    from ufm.theory import PREDICTIONS

    for name in spec.predictions:
        pred = PREDICTIONS[name]
        ok, why = pred.applies(problem)
        out[f"pred_{name}_applies"] = bool(ok)
        out[f"pred_{name}_reason"] = "" if ok else str(why)  # why it does not apply (summarized per sweep)
        if not ok:
            continue
        values = pred.predict(problem)
        if "objective" in values:
            out[f"pred_{name}_objective"] = float(values["objective"])
        if "diag" in values:
            out[f"pred_{name}_diag_min"] = float(np.min(values["diag"]))
        for k, v in pred.errors(problem, sol).items():
            out[f"pred_{name}_{k}"] = float(v)
    return out


def solve_bytes(problem, options: SolverOptions) -> float:
    """Peak memory of one solve of ``problem`` in bytes (``ufm.limits.estimate_bytes``, in the coordinates
    ``ufm.solve`` chooses)."""
    program = plan(problem, options)[0]
    return float(limits.estimate_bytes(problem, reduce=program.reduce, memory=options.memory))


def batch_bytes(problem, options: SolverOptions, chunk_size: int, inner: str, n_devices: int) -> float:
    """Memory of one batch of ``chunk_size`` such problems: ``vmap`` runs them all at once, ``map`` one per
    device at a time; the batch's stacked starts, data and results are held either way."""
    at_once = chunk_size if inner == "vmap" else min(chunk_size, n_devices)
    reduce = plan(problem, options)[0].reduce
    C = obj.columns(problem, reduce)
    stacked = 8.0 * chunk_size * (3 * obj.count_params(problem, reduce=reduce) + 3 * problem.K * C)
    return at_once * solve_bytes(problem, options) + stacked


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = str(e).strip().splitlines()
    text = f"{type(e).__name__}: {text[0] if text else ''}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _resource_error(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e}"
    return out_of_memory(e) or any(k in text for k in ("OOM", "XlaRuntimeError", "JaxRuntimeError"))


def run_sweep(spec: SweepSpec, out: Path, *, chunk_size: int = 32, process_id: int = 0, num_processes: int = 1,
              progress: bool = True, inner: Optional[str] = None, devices: Optional[int] = None,
              stop_after: Optional[int] = None, wait: bool = False, max_memory_gb: Optional[float] = None,
              on_start: Optional[Callable[[], None]] = None) -> dict:
    """Run (or resume) ``spec`` into ``out``; returns a summary dict. ``stop_after`` (testing) stops after that
    many chunks without merging, as an interruption would.

    Process 0 holds the folder lock (``store.folder_lock``) for the run: another sweep on ``out`` raises
    FlagError naming its pid, or with ``wait`` waits for it. A single process that takes the lock first deletes
    the temporaries that dead writers left (``store.clean_orphans``); several processes (``num_processes >
    1``) rely on the command line, which cleans before they all start.

    Before any solve, the memory of the largest batch (``batch_bytes``) is compared with ``max_memory_gb``
    (this argument, else the spec's ``[sweep] max_memory_gb``, else ``ufm.limits``' default): more is a ResourceError
    saying what is needed and how to override. A batch that fails anyway (an XLA out-of-memory error,
    ``RESOURCE_EXHAUSTED``) becomes one ``failed`` row per point and one line on stderr; a rerun computes them
    again. ``on_start()`` is called once the checks have passed, before the first solve."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if process_id != 0:
        return _run_sweep(spec, out, chunk_size, process_id, num_processes, progress, inner, devices, stop_after,
                          max_memory_gb, on_start, locked=False)
    with store.folder_lock(out, wait=wait, on_wait=_announce_wait(out) if progress else None) as first:
        if first and num_processes == 1:
            store.clean_orphans(out)
        return _run_sweep(spec, out, chunk_size, process_id, num_processes, progress, inner, devices, stop_after,
                          max_memory_gb, on_start, locked=True)


def _announce_wait(out: Path):
    def announce(holder: str) -> None:
        print(f"ufm sweep: {out} is in use by another sweep ({holder}); waiting for it (--wait)", file=sys.stderr,
              flush=True)
    return announce


def _set_aside(path: Path, error: Exception) -> None:
    """An unreadable chunk (with the lock held): renamed out of the way, its rows are computed again."""
    aside = path.with_name("unreadable-" + path.name)
    os.replace(path, aside)
    print(f"ufm sweep: warning: chunk {path.name} is unreadable ({type(error).__name__}); moved to {aside.name}, "
          "its rows are computed again", file=sys.stderr)


def _run_sweep(spec, out, chunk_size, process_id, num_processes, progress, inner, devices, stop_after, max_memory_gb,
               on_start, locked):
    _check_or_write_meta(spec, out)
    options = SolverOptions(**{k: v for k, v in spec.solver.items() if k not in ("restarts", "search")},
                            restarts=1, search="never")
    points = spec.points()
    R = spec.restarts
    types = spec.axis_types()
    done = store.done_keys(out, on_bad=_set_aside if locked else None)
    mine = [(pid, pt) for pid, pt in enumerate(points) if pid % num_processes == process_id]
    rows_per_point = R + (1 if spec.search else 0)  # restart index R: the reduced-search row
    todo = [(pid, pt, r) for pid, pt in mine for r in range(rows_per_point) if (pid, r) not in done]
    total_mine = len(mine) * rows_per_point
    bar = Progress(total_mine, total_mine - len(todo), enabled=progress)
    try:
        return _compute(spec, out, options, todo, types, bar, chunk_size, process_id, inner, devices, stop_after,
                        total_mine, max_memory_gb, on_start)
    finally:
        bar.close()  # also on errors: the error line starts on a line of its own


def _compute(spec, out, options, todo, types, bar, chunk_size, process_id, inner, devices, stop_after, total_mine,
             max_memory_gb, on_start):
    R = spec.restarts
    # invalid points become rows at once; valid ones are grouped by batch key (one compilation per group)
    groups: dict = {}
    searches = []
    invalid_rows = []
    for pid, pt, r in todo:
        seed = int(options.seed)
        try:
            problem = spec.problem(pt)
            program, _, check, polish = plan(problem, options)
        except (UfmError, TypeError, ValueError) as e:
            invalid_rows.append({**_row_base(spec, pid, pt, r, seed, types), "status": "invalid", "error": str(e)})
            continue
        item = (pid, pt, r, seed, problem, program, check, polish)
        if r == R:
            searches.append(item)
        else:
            groups.setdefault(batch_key(problem, program.reduce), []).append(item)
    _check_memory(spec, groups, searches, options, chunk_size, inner, devices, max_memory_gb)
    if on_start is not None and (groups or searches):
        on_start()
    chunks_written = 0
    if invalid_rows:
        store.write_chunk(out, invalid_rows, f"p{process_id}-invalid")
        bar.update(len(invalid_rows))
    t0 = time.perf_counter()
    for key, items in groups.items():
        for start in range(0, len(items), chunk_size):
            chunk = items[start:start + chunk_size]
            rows = []
            try:
                x0s = [obj.init_params(p, obj.start_key(seed, r), options.init_scale, options.dtype,
                                       reduce=prog.reduce) for (_, _, r, seed, p, prog, _, _) in chunk]
                runs = solve_batch([it[4] for it in chunk], x0s, options, reduce=chunk[0][5].reduce, inner=inner,
                                   devices=devices)
            except Exception as e:  # a failing batch (XLA out of memory, ...): rows with the error, the sweep goes on
                runs = [None] * len(chunk)
                err = _one_line(e)
                hint = (" (out of memory: a smaller --chunk-size or fewer --devices may fit)" if _resource_error(e)
                        else "")
                bar.message(f"ufm sweep: a batch of {len(chunk)} points (point_id {chunk[0][0]}..{chunk[-1][0]}) failed"
                            f"{hint}: {err}; recorded as status = failed rows, a rerun computes them again")
            for (pid, pt, r, seed, p, prog, check, polish), run in zip(chunk, runs):
                row = {**_row_base(spec, pid, pt, r, seed, types), **_problem_columns(p), "method": options.method}
                if run is None:
                    row.update({"status": "failed", "error": err})
                else:
                    try:
                        record = ("random", *finish_run(prog, run, options, check, options.seed, polish))
                        row.update(_result_columns(spec, p, prog, record))
                    except Exception as e:  # the end of this run failed (out of memory, ...): keep the run
                        row.update({"objective": run.objective, "status": "failed", "grad_norm": run.grad_norm,
                                    "iterations": run.iterations, "error": f"after the run: {_one_line(e)}"})
                rows.append(row)
            store.write_chunk(out, rows, f"p{process_id}")
            chunks_written += 1
            bar.update(len(rows))
            if stop_after is not None and chunks_written >= stop_after:
                return {"stopped": True}
    for start in range(0, len(searches), chunk_size):
        rows = []
        for pid, pt, r, seed, p, prog, check, polish in searches[start:start + chunk_size]:
            row = {**_row_base(spec, pid, pt, r, seed, types), **_problem_columns(p), "method": search_label(p)}
            try:
                ok, why = search_applicable(p)
                if not ok:
                    row.update({"status": "skipped", "error": why})
                else:
                    run, curv, esc, info = search_run(prog, options, check, polish)
                    row.update(_result_columns(spec, p, prog, (search_label(p), run, curv, esc), info))
            except Exception as e:
                row.update({"status": "failed", "error": _one_line(e)})
                if _resource_error(e):
                    bar.message(f"ufm sweep: the reduced search of point_id {pid} failed (out of memory): "
                                f"{_one_line(e)}; recorded as a failed row, a rerun computes it again")
            rows.append(row)
            bar.update(1)
        store.write_chunk(out, rows, f"p{process_id}-search")
        chunks_written += 1
        if stop_after is not None and chunks_written >= stop_after:
            return {"stopped": True}
    elapsed = time.perf_counter() - t0
    return {"rows_computed": len(todo), "rows_skipped": total_mine - len(todo), "seconds": elapsed,
            "groups": len(groups)}


def _check_memory(spec, groups, searches, options, chunk_size, inner, devices, max_memory_gb) -> None:
    """Refuse (ResourceError) a sweep whose largest batch needs more than the memory limit, before any solve."""
    from ufm.errors import ResourceError
    from ufm.sweep.batch import default_inner

    limit_gb = max_memory_gb if max_memory_gb is not None else spec.max_memory_gb
    where = "--max-memory-gb" if max_memory_gb is not None else ("[sweep] max_memory_gb" if limit_gb is not None
                                                                  else "the default limit (ufm.limits)")
    if limit_gb is None:
        limit_gb = limits.max_memory_gb()
    inner = inner or default_inner()
    n_dev = max(1, devices or len(jax.local_devices()))
    worst, worst_item = 0.0, None
    for items in groups.values():
        for item in items:
            need = batch_bytes(item[4], options, min(chunk_size, len(items)), inner, n_dev)
            if need > worst:
                worst, worst_item = need, item
    for item in searches:  # the reduced search: one point at a time, a few polished starts
        need = 4 * solve_bytes(item[4], options)
        if need > worst:
            worst, worst_item = need, item
    if worst_item is None or worst <= limit_gb * 1e9:
        return
    pid, pt, _, _, p = worst_item[:5]
    need_gb = worst / 1e9
    raise ResourceError("sweep", f"point_id {pid} ({json.dumps(pt, default=str)}: K = {p.K}, N = {p.N}, d = {p.d}, "
                                 f"depth = {p.depth}) needs about {need_gb:.3g} GB per batch ({inner} over "
                                 f"{n_dev} device(s), chunk size {chunk_size}), more than the limit of "
                                 f"{limit_gb:.3g} GB ({where}); to run it anyway pass --max-memory-gb "
                                 f"{math.ceil(need_gb * 10) / 10:g} or set [sweep] max_memory_gb (a smaller "
                                 "--chunk-size needs less)")


def _check_or_write_meta(spec: SweepSpec, out: Path) -> None:
    from ufm import __version__

    meta_path = out / "meta.json"
    meta = {"spec_hash": spec.hash(), "ufm_version": __version__, "jax_version": jax.__version__}
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
            old_hash = old.get("spec_hash")
        except (ValueError, AttributeError, UnicodeDecodeError) as e:
            raise FlagError("--out", f"{meta_path} is unreadable ({type(e).__name__}), so the results in {out} "
                                     "cannot be matched to a spec; restore it or use another directory") from None
        if old_hash != meta["spec_hash"]:
            raise FlagError("--out", f"{out} holds results of a different spec (hash {old_hash} != "
                                     f"{meta['spec_hash']}); use another directory")
        return
    for name, text in (("spec.toml", spec.source), ("meta.json", json.dumps(meta, indent=1))):
        store.write_text_atomic(out / name, text)  # unique temporaries: several processes may write at once


NO_SOLUTION = ("invalid", "failed", "skipped")  # statuses of rows without a solution
DISAGREE_RTOL = 1e-8


def best_rows(df):
    """The best row of each point: the lowest objective among its rows with a solution (any status but
    invalid / failed / skipped, finite objective): the random restarts and the reduced-search row."""
    if "objective" not in df or "status" not in df:
        return df.iloc[0:0]
    ok = df[~df["status"].isin(NO_SOLUTION) & np.isfinite(_numeric(df["objective"]))].copy()
    if not len(ok):
        return ok
    ok["objective"] = _numeric(ok["objective"])
    return ok.loc[ok.groupby("point_id")["objective"].idxmin()]


def _numeric(col):
    import pandas as pd

    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def sweep_stats(df) -> dict:
    """What ``summarize`` prints, as numbers: ``points``, ``rows``, ``invalid_points`` (every row invalid),
    ``failed_rows``, ``first_invalid`` / ``first_failed`` (messages), ``best`` (``best_rows``), and
    ``predictions``: name -> ``{"applies": points whose best row it applies to, "points": points with a best
    row, "first_reason": why it does not apply (first such point)}``, ``skipped_rows`` / ``first_skipped``
    (search rows skipped, and why), and
    ``disagree``: point_id -> relative spread of the objectives of its ``converged`` rows, for points with
    at least two converged rows differing by more than 1e-8 relative (restarts at saddles or spurious critical
    points that still claim convergence), and ``search_lower``: those of them where the reduced search's row
    has the lowest value (``search = true`` did its job: the best row is the search's)."""
    stats = {"rows": len(df), "points": int(df["point_id"].nunique()) if len(df) else 0, "invalid_points": 0,
             "failed_rows": 0, "first_invalid": "", "first_failed": "", "disagree": {}, "best": best_rows(df),
             "predictions": {}, "skipped_rows": 0, "first_skipped": "", "search_lower": {}, "has_search": False}
    if not len(df) or "status" not in df:
        return stats
    best = stats["best"]
    for col in [c for c in df.columns if c.startswith("pred_") and c.endswith("_applies")]:
        name = col[len("pred_"):-len("_applies")]
        applies = np.array([isinstance(v, (bool, np.bool_)) and bool(v) for v in best[col]], dtype=bool)
        reasons = best[f"pred_{name}_reason"].to_numpy()[~applies] if f"pred_{name}_reason" in best else []
        reasons = [r for r in reasons if isinstance(r, str) and r]
        stats["predictions"][name] = {"applies": int(applies.sum()), "points": len(best),
                                      "first_reason": reasons[0] if reasons else ""}
    status = df["status"].astype(str)
    invalid = df[status == "invalid"].groupby("point_id").size()
    all_rows = df.groupby("point_id").size()
    invalid_points = [pid for pid, n in invalid.items() if n == all_rows[pid]]
    stats["invalid_points"] = len(invalid_points)
    if invalid_points and "error" in df:
        row = df[df["point_id"] == invalid_points[0]].iloc[0]
        stats["first_invalid"] = f"point_id {invalid_points[0]}: {row['error']}"
    skipped = df[status == "skipped"]
    stats["skipped_rows"] = len(skipped)
    if len(skipped) and "error" in df:
        row = skipped.iloc[0]
        stats["first_skipped"] = f"point_id {row['point_id']} restart {row['restart']}: {row['error']}"
    failed = df[status == "failed"]
    stats["failed_rows"] = len(failed)
    if len(failed) and "error" in df:
        row = failed.iloc[0]
        stats["first_failed"] = f"point_id {row['point_id']} restart {row['restart']}: {row['error']}"
    if "objective" in df:
        conv = df[status == "converged"].copy()
        conv["objective"] = _numeric(conv["objective"])
        conv = conv[np.isfinite(conv["objective"])]
        g = conv.groupby("point_id")["objective"]
        lo, hi, n = g.min(), g.max(), g.size()
        scale = np.maximum(np.maximum(lo.abs(), hi.abs()), 1e-300)
        spread = (hi - lo) / scale
        stats["disagree"] = {int(pid): float(v) for pid, v in spread[(n >= 2) & (spread > DISAGREE_RTOL)].items()}
        if "method" in conv:  # points where the reduced search reached the lowest value: random starts stopped above
            search = conv[conv["method"].astype(str).isin(SEARCH_METHODS)].groupby("point_id")["objective"].min()
            stats["search_lower"] = {pid: v for pid, v in stats["disagree"].items() if pid in search.index and
                                     search[pid] - lo[pid] <= DISAGREE_RTOL * scale[pid]}
        stats["has_search"] = bool("method" in df and df["method"].astype(str).isin(SEARCH_METHODS).any())
    return stats


def never_applies(stats: dict) -> list:
    """Names of the requested predictions that apply to no point with a solution (the spec asked for a
    comparison that never happened)."""
    return [name for name, p in stats.get("predictions", {}).items() if p["points"] and not p["applies"]]


def summarize(df, stats: Optional[dict] = None) -> str:
    """The summary ``ufm sweep`` prints: rows by status, then the best row of each point (``best_rows``: its
    gradient norm, the predictions' errors), points whose converged restarts disagree, invalid points and
    failed rows."""
    stats = sweep_stats(df) if stats is None else stats
    lines = [f"{stats['points']} points, {stats['rows']} rows"]
    if "status" in df and len(df):
        counts = df["status"].value_counts().to_dict()
        lines.append("rows by status: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    best = stats["best"]
    lines.append(f"best row per point ({len(best)} of {stats['points']} points have one):")
    if len(best):
        counts = best["status"].value_counts().to_dict()
        lines.append("  status: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if "grad_norm" in best and best["grad_norm"].notna().any():
            lines.append(f"  gradient norm: median {best['grad_norm'].median():.1e}, max {best['grad_norm'].max():.1e}")
        for name, p in stats.get("predictions", {}).items():
            if 0 < p["applies"] < p["points"]:
                lines.append(f"  prediction {name} applies at {p['applies']} of {p['points']} points (where not: "
                             f"{p['first_reason'] or 'no reason recorded'})")
        for c in [c for c in best.columns if c.startswith("pred_") and c.endswith("_objective_rel_err")]:
            v = _numeric(best[c])
            v = v[np.isfinite(v)]
            if v.size:
                lines.append(f"  {c}: max {v.max():.1e} (median {np.median(v):.1e}, {v.size} points)")
    if stats.get("skipped_rows"):
        lines.append(f"note: {stats['skipped_rows']} rows skipped (first: {stats['first_skipped']})")
    for name in never_applies(stats):
        p = stats["predictions"][name]
        lines.append(f"WARNING: prediction {name} applies at none of the {p['points']} points, so nothing was "
                     f"compared with it ({p['first_reason'] or 'no reason recorded'})")
    caught = stats.get("search_lower", {})
    if caught:
        worst = sorted(caught, key=caught.get, reverse=True)
        lines.append(f"note: at {len(caught)} of {stats['points']} points random starts stopped above the reduced "
                     f"search's value (largest relative gap {caught[worst[0]]:.1e} at point_id {worst[0]}): saddles "
                     "or spurious critical points, which search = true is there for; the best row per point (above) "
                     "is the search's")
    dis = {pid: v for pid, v in stats["disagree"].items() if pid not in caught}
    if dis:
        worst = sorted(dis, key=dis.get, reverse=True)
        advice = ("the reduced search did not reach the lowest value there (or was skipped)" if stats.get("has_search")
                  else "use the best row per point (above), or search = true")
        lines.append(f"WARNING: restarts disagree at {len(dis)} of {stats['points']} points: their converged "
                     f"objectives differ by more than {DISAGREE_RTOL:g} relative (largest {dis[worst[0]]:.1e} at "
                     f"point_id {worst[0]}; point_ids {', '.join(map(str, sorted(worst[:10])))}"
                     f"{', ...' if len(worst) > 10 else ''}); random starts stopped at saddles or spurious critical "
                     f"points there: {advice}")
    if stats["invalid_points"]:
        lines.append(f"WARNING: {stats['invalid_points']} of {stats['points']} points are INVALID (status = "
                     f"invalid, message in the error column; first: {stats['first_invalid']})")
    if stats["failed_rows"]:
        lines.append(f"WARNING: {stats['failed_rows']} rows FAILED (first: {stats['first_failed']}); rerun the "
                     "same command to compute them again")
    return "\n".join(lines)
