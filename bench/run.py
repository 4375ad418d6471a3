"""The benchmark suite: hoag against the tuning methods users would otherwise run.

One command reproduces the shape of the experiments of Pedregosa (2016) on real
data. For each dataset (fixed train / validation / test parts drawn with
``--seed``) every method gets the same split and the same wall-clock budget:

- hoag with the exponential, quadratic and cubic tolerance schedules and with
  "exact" solves (``hoag.hoag`` on the model's problem, stopped at tol 1e-4,
  the estimators' default, or by the budget);
- grid search (logistic: scikit-learn ``LogisticRegression`` warm started
  along increasing C; kernel ridge: a 10 x 10 grid of ``KernelRidge`` fits);
- random search (log-uniform), Optuna's TPE sampler and scikit-optimize's
  Gaussian-process minimiser, at most 50 points each, with the same fits.

Datasets: binary 20newsgroups (sparse text), a9a (sparse, moderate), Parkinson's
telemonitoring (kernel ridge on gamma and alpha) and MNIST (one penalty per
pixel: hoag only, against single-C methods, since nothing else scales to
hundreds of hyperparameters). Then kernel micro-benchmarks (``_kernels.py``).

Outputs in ``--out``: ``results.json`` (every trace and figure),
``<dataset>.png`` (validation and test loss against wall time),
``<dataset>.md`` and ``kernels.md`` (tables), ``summary.md`` (all of them with
the targets of issue 6). Run from the repository root::

    python bench/run.py --out bench/out/full             # 12 to 15 minutes
    python bench/run.py --quick --out /tmp/bench-quick   # under 2 minutes
"""

import argparse
import json
import logging
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import _kernels
import _report
import _tuners
from _report import jsonable
from _tasks import KernelRidgeTask, LogisticTask, MultinomialTask
from hoag import datasets

logger = logging.getLogger("bench.run")

DATASETS = ("news20", "a9a", "parkinsons", "mnist")
HOAG_METHODS = ("hoag-exponential", "hoag-quadratic", "hoag-cubic", "hoag-exact")
BASELINES = ("grid", "random", "tpe", "gp")
METHODS = HOAG_METHODS + BASELINES
# Per-pixel MNIST: hoag with one C per pixel against the single-C methods.
MNIST_METHODS = ("hoag-pixels", "hoag-exponential", "grid")
# Seconds per method and dataset of the full run (the whole run 12 to 15 min).
BUDGET = dict(news20=60.0, a9a=20.0, parkinsons=20.0, mnist=45.0)
QUICK_BUDGET = 2.0
MAX_EVALS, QUICK_MAX_EVALS = 50, 8
LN10 = math.log(10.0)
# Boxes of lam: C in [1e-2, 1e4] (as bench_logistic.py), C in [1e-3, 1e3] on
# MNIST (as bench_multinomial.py), gamma in [1e-3, 10] and alpha in [1e-5, 10].
LOGISTIC_BOX = (-4 * LN10, 2 * LN10)
MNIST_BOX = (-3 * LN10, 3 * LN10)
KRR_BOX = ((-3 * LN10, -5 * LN10), (LN10, LN10))
# Rows kept by --quick (train, validation, test).
QUICK_ROWS = dict(news20=(1000, 500, 500), a9a=(2000, 1000, 1000),
                  parkinsons=(300, 200, 200), mnist=(1000, 500, 500))


def parse_args(argv=None):
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="hoag against grid, random, TPE and GP search on real data, "
        "and kernel micro-benchmarks; tables, figures and every trace in --out.")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for results.json, PNGs and Markdown tables")
    parser.add_argument("--quick", action="store_true",
                        help="small versions of everything (subsampled rows, "
                        f"{QUICK_MAX_EVALS} points per search, {QUICK_BUDGET:g} s "
                        "budgets, small kernels): under two minutes, for CI")
    parser.add_argument("--datasets", nargs="*", choices=DATASETS, default=DATASETS,
                        help="datasets to run (default all; none: kernels only)")
    parser.add_argument("--methods", nargs="+", choices=METHODS + ("hoag-pixels",),
                        default=None, help="methods to run (default all; MNIST "
                        "runs hoag-pixels, hoag-exponential and grid of them)")
    parser.add_argument("--no-kernels", action="store_true",
                        help="skip the kernel micro-benchmarks")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="wall-clock budget of each method on each dataset "
                        "(default " + ", ".join(f"{k} {v:g}" for k, v in BUDGET.items())
                        + f"; {QUICK_BUDGET:g} with --quick)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the splits and of the random searches")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions of t_fit and of each kernel timing "
                        "(medians quoted; default 3, 2 with --quick)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads, set with threadpoolctl (default 1: "
                        "the machine is shared; see bench/README.md)")
    args = parser.parse_args(argv)
    if args.budget is not None and not args.budget > 0:
        parser.error("--budget must be positive")
    if args.repeat is None:
        args.repeat = 2 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


# --------------------------------------------------------------------------
# Data


def _subsample(parts, rows):
    """The first rows of each of the three parts."""
    out = []
    for k, n in enumerate(rows):
        out += [parts[2 * k][:n], parts[2 * k + 1][:n]]
    return tuple(out)


def load_task(name, quick, seed):
    """The task of a dataset, on its fixed split."""
    if name == "news20":
        parts = datasets.news20_split(seed=seed)
    elif name == "a9a":
        parts = datasets.a9a_split(seed=seed)
    elif name == "parkinsons":
        # parkinsons_split draws disjoint rows and standardises with the
        # training statistics; its second part is halved into validation/test.
        X, y, X_rest, y_rest = datasets.parkinsons_split(seed=seed, n_train=2000,
                                                         n_val=3000)
        parts = (X, y, X_rest[:1500], y_rest[:1500], X_rest[1500:], y_rest[1500:])
    else:
        parts = datasets.mnist_split(seed=seed)
    if quick:
        parts = _subsample(parts, QUICK_ROWS[name])

    if name in ("news20", "a9a"):
        return LogisticTask(name, parts, [LOGISTIC_BOX[0]], [LOGISTIC_BOX[1]],
                            [0.0], ["lam"])
    if name == "parkinsons":
        p = parts[0].shape[1]
        # hoag starts from scikit-learn's defaults gamma = 1/p, alpha = 1.
        return KernelRidgeTask(name, parts, KRR_BOX[0], KRR_BOX[1],
                               [-math.log(p), 0.0], ["log_gamma", "log_alpha"])
    return MultinomialTask(name, parts, [MNIST_BOX[0]], [MNIST_BOX[1]], [0.0],
                           ["lam"])


def grid_points(task, quick):
    """The grid of a task: from the most regularised end (for warm starts)."""
    if task.kind == "krr":
        n = 4 if quick else 10
        gammas = np.linspace(task.low[0], task.high[0], n)
        alphas = np.linspace(task.high[1], task.low[1], n)
        return [np.array([g, a]) for g in gammas for a in alphas]
    n = QUICK_MAX_EVALS if quick else 20
    return [np.array([lam]) for lam in np.linspace(task.high[0], task.low[0], n)]


# --------------------------------------------------------------------------
# Runs


def run_method(task, method, budget, args):
    """Records and info of one method on one task."""
    max_evals = QUICK_MAX_EVALS if args.quick else MAX_EVALS
    if method == "hoag-pixels":
        lam0 = np.full(task.X_train.shape[1], task.lam0[0])
        return _tuners.run_hoag(task, "exponential", budget, lam0=lam0)
    if method.startswith("hoag-"):
        return _tuners.run_hoag(task, method[len("hoag-"):], budget)
    grid = grid_points(task, args.quick)
    proposer = _tuners.make_proposer(method, task, grid, args.seed)
    if method == "grid":
        max_evals = len(grid)
    return _tuners.run_search(task, proposer, budget, max_evals)


def exact_hoag_values(task, runs, rel):
    """Exact validation losses at hoag's points; returns ``f*``.

    ``f*`` is the lowest exact validation loss found: over the baselines'
    points (their fits are exact) and hoag's points evaluated here, after the
    runs and outside their time. Each hoag run gets ``exact`` (and
    ``exact_test``) at its best trace point and then at its points in time
    order up to the first within ``rel`` of ``f*``: enough for its times to
    every level of the table. A lower ``f*`` found on the way moves the bar,
    so the scan repeats until ``f*`` holds.
    """
    fit = task.fitter()

    def evaluate(record):
        if "exact" not in record:
            value, model = fit(np.array(record["lam"]))
            record["exact"], record["exact_test"] = value, task.test_loss(model)
        return record["exact"]

    hoag_runs = [run["records"] for method, run in runs.items()
                 if method.startswith("hoag") and run["records"]]
    values = [r["val"] for method, run in runs.items()
              if not method.startswith("hoag") for r in run["records"]]
    values += [evaluate(_report.best_record(records)) for records in hoag_runs]
    f_best = min(v for v in values if math.isfinite(v))
    while True:
        for records in hoag_runs:
            for record in records:
                if evaluate(record) <= (1.0 + rel) * f_best:
                    break
        lowest = min((r["exact"] for records in hoag_runs for r in records
                      if "exact" in r and math.isfinite(r["exact"])),
                     default=f_best)
        if lowest >= f_best:
            return f_best
        f_best = lowest


def run_dataset(name, args):
    """Every method on one dataset, t_fit at the best point, table and figure."""
    task = load_task(name, args.quick, args.seed)
    budget = args.budget or (QUICK_BUDGET if args.quick else BUDGET[name])
    methods = MNIST_METHODS if name == "mnist" else METHODS
    if args.methods:
        methods = [m for m in methods if m in args.methods]
    logger.info("%s: %s, budget %g s per method", name, task.sizes(), budget)

    runs = {}
    for method in methods:
        start = time.perf_counter()
        records, info = run_method(task, method, budget, args)
        runs[method] = dict(records=records, info=info)
        best = _report.best_record(records)
        logger.info("  %-17s %3d points, best val %.6g, %.1f s wall", method,
                    len(records), best["val"] if best else math.nan,
                    time.perf_counter() - start)

    # The unit of time: one exact fit (the baselines' fit) at the best point.
    best = min((_report.best_record(run["records"]) for run in runs.values()
                if run["records"]), key=lambda r: r["val"])
    t_fit = task.fit_time(np.array(best["lam"]), args.repeat)
    # hoag's trace values are at inexact solutions, above or below the exact
    # loss at the same lam: f* and hoag's times are read from exact losses.
    f_best = exact_hoag_values(task, runs, min(_report.LEVELS))
    check = {method: dict(trace_val=point["val"], exact_val=point["exact"])
             for method, run in runs.items() if method.startswith("hoag")
             for point in [_report.best_record(run["records"])] if point}

    ylabel = "MSE" if task.kind == "krr" else "log loss"
    _report.plot_dataset(name, runs, args.out / f"{name}.png", ylabel, f_best)
    header = (f"{task.sizes()}; budget {budget:g} s per method; lam = "
              f"{', '.join(task.names)} in [{', '.join(f'{v:.3g}' for v in task.low)}]"
              f" .. [{', '.join(f'{v:.3g}' for v in task.high)}]")
    # On MNIST the unit is the per-pixel run: the single-C methods are the
    # alternatives to it.
    reference = "hoag-pixels" if name == "mnist" else _report.REFERENCE
    table = _report.markdown_table(name, runs, t_fit, header=header,
                                   reference=reference, f_best=f_best)
    (args.out / f"{name}.md").write_text(table)
    print(table, flush=True)
    return dict(sizes=task.sizes(), budget=budget, t_fit=t_fit,
                best_lam=best["lam"], f_best=f_best, reference=reference,
                hoag_exact_check=check, methods=runs, table=table)


def targets(results, kernel_rows):
    """The targets of issue 6, checked against the figures of this run."""
    lines = ["## Targets of issue 6", ""]
    for name, res in results.items():
        if name not in ("news20", "a9a") or "hoag-exponential" not in res["methods"]:
            continue
        f_best, rows = _report.summarise(res["methods"], res["t_fit"],
                                         f_best=res["f_best"])
        by = {r["method"]: r for r in rows}
        hoag = by["hoag-exponential"]
        t_hoag = hoag["reach"][1e-3]
        others = [r["reach"][1e-3] for r in rows if r["method"] != "hoag-exponential"
                  and r["reach"][1e-3] is not None]
        first = t_hoag is not None and all(t_hoag <= t for t in others)
        lines.append(f"- {name}: hoag-exponential first within 1e-3: "
                     f"{'yes' if first else 'no'} "
                     f"({_report._cell(t_hoag, '.3g')} s; fastest other method: "
                     f"{_report._cell(min(others) if others else None, '.3g')} s)")
        if "tpe" in by:
            tpe = by["tpe"]
            t_tpe = tpe["reach"][1e-3]
            if t_tpe is not None and t_hoag:
                verdict = f"{t_tpe / t_hoag:.1f}x later"
            elif t_hoag:
                verdict = (f"never within its {tpe['n_evals']} trials "
                           f"({tpe['total']:.3g} s): > {tpe['total'] / t_hoag:.1f}x")
            else:
                verdict = "hoag never reached 1e-3"
            lines.append(f"  - Optuna TPE (target >= 5x later): {verdict}")
        total = hoag["total"] / res["t_fit"]
        lines.append(f"  - whole hoag-exponential run: {hoag['total']:.3g} s = "
                     f"{total:.2f} t_fit (target <= 5)")
    csr = [r for r in kernel_rows if r["layout"] == "CSR"]
    if csr:
        shares = ", ".join(f"{r['kernel']} {r['dtype']} {r['share_of_copy']:.2f}"
                           for r in csr)
        lines.append(f"- CSR kernels, best bandwidth / copy (target >= 0.5): {shares}")
    return "\n".join(lines) + "\n"


def run_kernels(args):
    """The kernel micro-benchmarks on the 20newsgroups CSR rows, MNIST dense
    rows and Parkinson's rows (subsampled with --quick)."""
    csr = load_task("news20", args.quick, args.seed)
    dense = load_task("mnist", args.quick, args.seed)
    rbf = load_task("parkinsons", args.quick, args.seed)
    # Binary labels for the dense logistic kernels: digits 5-9 against 0-4.
    y_dense = np.where(dense.y_train >= 5, 1.0, -1.0)
    number = 2 if args.quick else 10
    copy_bytes = 2**24 if args.quick else 2**28
    rows, copy_bw = _kernels.run_kernels(
        csr.X_train, csr.y_train, dense.X_train, y_dense, rbf.X_train,
        1.0 / rbf.X_train.shape[1], number, args.repeat, copy_bytes)
    table = _kernels.markdown_table(rows, copy_bw)
    (args.out / "kernels.md").write_text(table)
    print(table, flush=True)
    return rows, copy_bw, table


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with threadpool_limits(args.blas_threads or None):
            results = {name: run_dataset(name, args) for name in args.datasets}
            kernel_rows, copy_bw, kernel_table = ([], None, "")
            if not args.no_kernels:
                kernel_rows, copy_bw, kernel_table = run_kernels(args)
    except datasets.DatasetNotFoundError as exc:
        sys.exit(f"bench/run.py: {exc}")

    summary = "\n".join(
        ["# hoag benchmark suite" + (" (--quick: figures say nothing)"
                                     if args.quick else ""), ""]
        + [res["table"] for res in results.values()]
        + [kernel_table, targets(results, kernel_rows)])
    (args.out / "summary.md").write_text(summary)
    print(targets(results, kernel_rows))
    meta = dict(argv=sys.argv, quick=args.quick, seed=args.seed,
                blas_threads=args.blas_threads, python=platform.python_version(),
                machine=platform.machine(), seconds=time.perf_counter() - start)
    payload = dict(meta=meta, datasets=results,
                   kernels=dict(rows=kernel_rows, copy_bytes_per_s=copy_bw))
    (args.out / "results.json").write_text(json.dumps(payload, indent=1,
                                                      default=jsonable))
    logger.info("wrote %s (%.0f s)", args.out, time.perf_counter() - start)


if __name__ == "__main__":
    main()
