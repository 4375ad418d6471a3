"""Cross-validation criteria: the mean of several problems' held-out losses.

A k-fold criterion is a HOAG problem made of one inner problem per fold::

    f(lam) = 1/k sum_f g_f(x_f(lam), lam),   x_f(lam) = argmin_x h_f(x, lam),
    grad f = 1/k sum_f (d2_g_f - d12_h_f^T H_f^{-1} d1_g_f).

Each fold keeps its own solution, Hessian system and warm starts; the loop of
:func:`hoag.hoag` sees tuples of per-fold objects, which it never looks into.

The folds' inner and Hessian solves run in parallel through joblib. With the
default threading backend (the compiled kernels release the GIL) the problems,
and with them every warm start, stay in this process. With a process backend
(loky, Dask) each call ships the fold's problem to a worker, where it is
rebuilt from its constructor arguments: the warm starts ``x`` and ``q`` travel
with the call, and a problem's solver state (the L-BFGS curvature memory of a
logistic fold, given by its ``_solver_state`` method) travels there and back,
so that the search is the same as in one process.
"""

import numbers
import os

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from ._outer import SolveInfo, _check_problem
from ._threads import one_blas_thread

__all__ = ["MeanOverFolds", "fold_threads", "warm_started"]


def _run(problem, method, args, caller_pid, state):
    """One fold's ``problem.method(*args)`` inside a joblib worker.

    Returns the method's result and, in another process, the problem's solver
    state after the call (None in this process, where the problem itself is
    updated). In a worker process BLAS is limited to one thread, so that
    ``n_jobs`` decides how many cores are busy; threads of the caller share
    the limit the caller set around the whole batch.
    """
    if os.getpid() == caller_pid:
        return getattr(problem, method)(*args), None
    if state is not None:
        problem._restore_solver_state(state)
    with one_blas_thread():
        result = getattr(problem, method)(*args)
    return result, _state(problem)


def _state(problem):
    """A problem's solver state, or None if it keeps none."""
    get = getattr(problem, "_solver_state", None)
    return None if get is None else get()


def _merge(infos):
    """One SolveInfo for a set of per-fold solves: total work, worst residual."""
    messages = sorted({info.message for info in infos if info.message})
    return SolveInfo(
        n_iter=sum(int(info.n_iter) for info in infos),
        residual=max(float(info.residual) for info in infos),
        converged=all(bool(info.converged) for info in infos),
        message="; ".join(messages),
    )


class MeanOverFolds:
    """The mean of the criteria of several HOAG problems sharing ``lam``.

    Implements :class:`hoag.HOAGProblem` with ``x = (x_1, ..., x_k)`` and
    ``q = (q_1, ..., q_k)``. Each fold's relative tolerances are met fold by
    fold, which implies them for the stacked systems.

    Parameters
    ----------
    problems : sequence of HOAGProblem
        One problem per fold, all with the same ``n_hyperparams``.
    n_jobs : int or None, default=None
        Folds solved at the same time, with joblib's meaning (None: 1 unless
        a ``joblib.parallel_config`` says otherwise; -1: all cores). The
        backend is joblib's default threading one unless a
        ``joblib.parallel_config`` chooses another (loky, Dask). Build the
        problems with ``n_threads=1`` when ``n_jobs > 1`` so that the compiled
        kernels do not oversubscribe the cores.

    Attributes
    ----------
    n_hyperparams : int
        Shared number of hyperparameters.
    n_folds : int
        Number of problems.
    """

    def __init__(self, problems, n_jobs=None):
        self.problems = list(problems)
        self.n_jobs = n_jobs
        if not self.problems:
            raise ValueError("MeanOverFolds needs at least one problem")
        for k, problem in enumerate(self.problems):
            try:
                _check_problem(problem)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"problems[{k}]: {exc}") from None
        sizes = {int(problem.n_hyperparams) for problem in self.problems}
        if len(sizes) != 1:
            raise ValueError(
                f"all folds must have the same number of hyperparameters, got {sizes}"
            )
        self.n_hyperparams = sizes.pop()
        self.n_folds = len(self.problems)

    def _each(self, objects):
        return objects if objects is not None else (None,) * self.n_folds

    def _map(self, method, per_fold_args):
        """``problem.method(*args)`` for every fold, in parallel when asked."""
        if effective_n_jobs(self.n_jobs) == 1:
            return [getattr(problem, method)(*args)
                    for problem, args in zip(self.problems, per_fold_args)]

        # One BLAS thread for the thread-pool workers of this process; joblib's
        # process workers set their own limit in _run.
        pid = os.getpid()
        with one_blas_thread():
            outputs = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_run)(problem, method, args, pid, _state(problem))
                for problem, args in zip(self.problems, per_fold_args)
            )
        for problem, (_, state) in zip(self.problems, outputs):
            if state is not None:
                problem._restore_solver_state(state)
        return [result for result, _ in outputs]

    def inner_solve(self, lam, x0, tol):
        """Solve every fold's inner problem; ``info`` sums iterations.

        Parameters
        ----------
        lam : ndarray of shape (n_hyperparams,)
        x0 : tuple of per-fold warm starts, or None
        tol : float

        Returns
        -------
        x : tuple of per-fold solutions
        info : SolveInfo
        """
        pairs = self._map("inner_solve",
                          [(lam.copy(), x, tol) for x in self._each(x0)])
        return tuple(x for x, _ in pairs), _merge([info for _, info in pairs])

    def outer_value_grad(self, x, lam):
        """Mean held-out criterion ``1/k sum_f g_f`` and its partial gradients.

        Returns
        -------
        g : float
        d1_g : tuple of per-fold ``d1_g_f / k``
        d2_g : ndarray of shape (n_hyperparams,)
        """
        k = self.n_folds
        values, d1, d2 = [], [], np.zeros(self.n_hyperparams)
        for problem, x_f in zip(self.problems, x):
            g_f, d1_f, d2_f = problem.outer_value_grad(x_f, lam.copy())
            values.append(float(g_f))
            d1.append(d1_f / k)
            d2 += np.asarray(d2_f, dtype=float) / k
        return float(np.mean(values)), tuple(d1), d2

    def hessian_solve(self, x, lam, b, q0, tol):
        """Solve each fold's system ``H_f q_f = b_f`` to its relative tolerance.

        Returns
        -------
        q : tuple of per-fold solutions
        info : SolveInfo
        """
        triples = zip(x, b, self._each(q0))
        pairs = self._map("hessian_solve", [(x_f, lam.copy(), b_f, q_f, tol)
                                            for x_f, b_f, q_f in triples])
        return tuple(q for q, _ in pairs), _merge([info for _, info in pairs])

    def cross_term(self, x, lam, q):
        """``sum_f d12_h_f^T q_f`` (the 1/k is already in the right-hand sides).

        Returns
        -------
        ndarray of shape (n_hyperparams,)
        """
        out = np.zeros(self.n_hyperparams)
        for problem, x_f, q_f in zip(self.problems, x, q):
            out += np.asarray(problem.cross_term(x_f, lam.copy(), q_f), dtype=float)
        return out


def fold_threads(n_threads, n_jobs, n_folds):
    """Threads of each fold's compiled kernels.

    The user's ``n_threads`` if given; else one when several folds run at
    once (``n_jobs`` then decides how many cores are busy); else None (the
    kernels choose by data size).
    """
    if n_threads is not None:
        if not (isinstance(n_threads, numbers.Integral)
                and not isinstance(n_threads, bool) and n_threads >= 1):
            raise ValueError(
                f"n_threads must be None or a positive integer, got {n_threads!r}"
            )
        return int(n_threads)
    if n_folds > 1 and effective_n_jobs(n_jobs) > 1:
        return 1
    return None


class _StartFrom:
    """A problem whose first inner solve without a warm start uses ``x_start``.

    Used by ``warm_start=True``: :func:`hoag.hoag` starts from ``x0=None``,
    and this hands it the previous fit's solution instead. Every other
    attribute is the wrapped problem's.
    """

    def __init__(self, problem, x_start):
        self.problem = problem
        self.x_start = x_start

    def __getattr__(self, name):
        return getattr(self.problem, name)

    def inner_solve(self, lam, x0, tol):
        if x0 is None and self.x_start is not None:
            x0, self.x_start = self.x_start, None
        return self.problem.inner_solve(lam, x0, tol)


def warm_started(problem, previous_x):
    """``problem`` started from ``previous_x`` when its shapes fit, else as is.

    Parameters
    ----------
    problem : HOAGProblem or MeanOverFolds
    previous_x : ndarray, tuple of ndarray or None
        The ``x`` of the previous search (``result_.x``).

    Returns
    -------
    HOAGProblem
    """
    if previous_x is None:
        return problem
    folds = problem.problems if isinstance(problem, MeanOverFolds) else [problem]
    starts = previous_x if isinstance(previous_x, tuple) else (previous_x,)
    # A start of another shape (other folds, features or classes) is dropped.
    if len(starts) != len(folds) or any(
            np.shape(x) != (_x_length(p),) for p, x in zip(folds, starts)):
        return problem
    return _StartFrom(problem, previous_x)


def _x_length(problem):
    """Length of a problem's ``x``: coefficients, or dual coefficients (KRR)."""
    if hasattr(problem, "n_coef"):
        return problem.n_coef
    return problem.train.n
