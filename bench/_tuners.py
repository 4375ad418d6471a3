"""The tuning methods of the benchmark suite, each under a wall-clock budget.

Every method returns a trace: one record per evaluated point with

- ``time``: seconds since the method started, test-loss computations excluded;
- ``lam``: the hyperparameters (hoag's coordinates: log penalties, log width);
- ``val``: the validation loss there;
- ``test``: the test loss of the model at that point (computed off the clock).

The baselines (grid, random search, Optuna's TPE, scikit-optimize's Gaussian
process) share one loop, :func:`run_search`: a proposer suggests ``lam``, the
task's exact fit gives the validation loss, the proposer is told it. They
differ only in the proposer. hoag runs :func:`hoag.hoag` on the task's problem;
its ``val`` is the criterion of its trace (at the inexact solution of that
iteration), its ``test`` the test loss of that same inexact solution.
"""

import logging
import time
import warnings
from contextlib import contextmanager

import numpy as np

from hoag import hoag

logger = logging.getLogger(__name__)

# hoag's stopping test: the default of hoag.LogisticRegressionCV.
HOAG_TOL = 1e-4
HOAG_MAX_ITER = 100
# Random points the Gaussian process sees before it proposes (scikit-optimize).
GP_INITIAL_POINTS = 5


class Clock:
    """Seconds since creation, less the spans spent in :meth:`paused`."""

    def __init__(self):
        self.start = time.perf_counter()
        self.excluded = 0.0

    def now(self):
        return time.perf_counter() - self.start - self.excluded

    @contextmanager
    def paused(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - start


# --------------------------------------------------------------------------
# Proposers: ask() -> lam, tell(lam, value)


class GridProposer:
    """The points of a fixed grid, in order (warm starts follow the order)."""

    def __init__(self, points):
        self.points = [np.asarray(p, dtype=float) for p in points]
        self.size = len(self.points)
        self._next = 0

    def ask(self):
        point = self.points[self._next]
        self._next += 1
        return point

    def tell(self, lam, value):
        pass


class RandomProposer:
    """Points drawn uniformly in the box of ``lam`` (log-uniform hyperparameters)."""

    def __init__(self, low, high, seed):
        self.low, self.high = low, high
        self.rng = np.random.default_rng(seed)

    def ask(self):
        return self.rng.uniform(self.low, self.high)

    def tell(self, lam, value):
        pass


class TPEProposer:
    """Optuna's TPE sampler through its ask-and-tell interface."""

    def __init__(self, low, high, names, seed):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        self.space = list(zip(names, low, high))
        self.trial = None

    def ask(self):
        self.trial = self.study.ask()
        return np.array([self.trial.suggest_float(name, lo, hi)
                         for name, lo, hi in self.space])

    def tell(self, lam, value):
        self.study.tell(self.trial, value)


class GPProposer:
    """scikit-optimize's Gaussian-process minimiser (``gp_minimize``'s engine)."""

    def __init__(self, low, high, seed):
        from skopt import Optimizer

        self.optimizer = Optimizer(list(zip(low, high)), base_estimator="GP",
                                   n_initial_points=GP_INITIAL_POINTS,
                                   random_state=seed)

    def ask(self):
        with warnings.catch_warnings():
            # "evaluated at point ... before, using random point": its own
            # fallback when the acquisition returns a point already seen.
            warnings.simplefilter("ignore", UserWarning)
            return np.array(self.optimizer.ask(), dtype=float)

    def tell(self, lam, value):
        self.optimizer.tell([float(v) for v in lam], value)


def make_proposer(method, task, grid, seed):
    """The proposer of a baseline method name."""
    if method == "grid":
        return GridProposer(grid)
    if method == "random":
        return RandomProposer(task.low, task.high, seed)
    if method == "tpe":
        return TPEProposer(task.low, task.high, task.names, seed)
    if method == "gp":
        return GPProposer(task.low, task.high, seed)
    raise ValueError(f"unknown baseline {method!r}")


# --------------------------------------------------------------------------
# Runs


def run_search(task, proposer, budget, max_evals):
    """Exact fits at the proposed points until the budget or ``max_evals``.

    Returns
    -------
    records : list of dict
    info : dict
        ``n_evals`` and why the search stopped.
    """
    fit = task.fitter()
    clock = Clock()
    records = []
    stop = "max_evals"
    for _ in range(max_evals):
        if clock.now() >= budget:
            stop = "budget"
            break
        lam = proposer.ask()
        value, model = fit(lam)
        proposer.tell(lam, value)
        seconds = clock.now()
        with clock.paused():
            records.append(dict(time=seconds, lam=lam.tolist(), val=value,
                                test=task.test_loss(model)))
    return records, dict(n_evals=len(records), stop=stop)


class _KeepSolutions:
    """A HOAG problem that remembers the ``x`` of every inner solve, in order.

    hoag makes one inner solve per outer iteration (trace record); keeping a
    reference costs nothing on the clock, and the test losses of those models
    are computed after the run.
    """

    def __init__(self, problem):
        self.problem = problem
        self.n_hyperparams = problem.n_hyperparams
        self.solutions = []

    def inner_solve(self, lam, x0, tol):
        x, info = self.problem.inner_solve(lam, x0, tol)
        self.solutions.append(x)
        return x, info

    def __getattr__(self, name):
        return getattr(self.problem, name)


def run_hoag(task, schedule, budget, lam0=None):
    """hoag with ``schedule`` from the task's start, within ``budget`` seconds.

    The problem's construction (compiled data structures, scales) counts in
    the time: it is part of what a user waits for.

    Returns
    -------
    records : list of dict
        One per outer iteration, with hoag's ``eps`` and ``accepted`` besides
        the common keys.
    info : dict
        Outer iterations, convergence, message, setup seconds.
    """
    lam0 = task.lam0 if lam0 is None else np.asarray(lam0, float)
    start = time.perf_counter()
    problem = _KeepSolutions(task.hoag_problem(lam0))
    setup = time.perf_counter() - start
    # A one-coordinate box applies to every coordinate (one C per pixel).
    bounds = np.broadcast_to(task.bounds, (lam0.size, 2)) if (
        len(task.bounds) == 1) else task.bounds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the budget may end the run: expected
        result = hoag(problem, lam0, bounds=bounds, schedule=schedule,
                      tol=HOAG_TOL, max_iter=HOAG_MAX_ITER,
                      max_time=max(budget - setup, 1e-3), warn=False)

    records = []
    for record, x in zip(result.trace, problem.solutions):
        lam = record["lam"]
        records.append(dict(
            time=setup + record["time"], lam=lam.tolist(), val=record["value"],
            test=task.hoag_test_loss(problem.problem, x, lam),
            eps=record["eps"], accepted=bool(record["accepted"]),
        ))
    info = dict(n_evals=len(records), n_iter=result.n_iter,
                converged=bool(result.converged), stop=result.message,
                setup=setup, elapsed=setup + result.elapsed)
    return records, info
