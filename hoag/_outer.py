"""The HOAG outer loop: tolerance schedule, step size, trace and result.

This module implements Algorithm 1 of Pedregosa (2016), "Hyperparameter
optimization with approximate gradient", for any model that provides the oracle
interface below. It needs numpy only and knows nothing about a particular model.

The problem
-----------
Continuous hyperparameters ``lam`` (length ``m``, usually log-scaled) minimise

    f(lam) = g(x(lam), lam),    x(lam) = argmin_x h(x, lam),

with ``h`` smooth and strongly convex in ``x``. By the implicit function theorem

    grad f(lam) = d2_g - d12_h^T H^{-1} d1_g,    H = d11_h(x, lam).

HOAG replaces ``x(lam)`` and ``H^{-1} d1_g`` by approximate solutions computed to
a relative tolerance ``eps_k`` that decreases along a summable schedule, and takes
projected gradient steps ``lam <- P(lam - p / L)`` with the approximate
hypergradient ``p``.

The oracle interface
--------------------
A problem is any object with the members below (see :class:`HOAGProblem`, a
``typing.Protocol``; no inheritance is needed).

``n_hyperparams`` : int
    The number ``m`` of hyperparameters.
``inner_solve(lam, x0, tol) -> (x, info)``
    Approximately minimise ``h(., lam)`` starting from ``x0`` (``None`` means a
    cold start). Stop once ``||grad_x h(x, lam)|| <= tol * s`` where ``s`` is the
    problem's own reference scale (for example the gradient norm at ``x = 0``):
    ``tol`` is relative. ``info`` is a :class:`SolveInfo`.
``outer_value_grad(x, lam) -> (g, d1_g, d2_g)``
    The validation criterion ``g`` (float), its gradient in ``x`` (the same kind
    of object as ``x``) and its gradient in ``lam`` (ndarray of shape ``(m,)``).
``hessian_solve(x, lam, b, q0, tol) -> (q, info)``
    Solve ``H q = b`` with ``H = d11_h(x, lam)``, starting from ``q0`` (``None``
    means zeros), until ``||H q - b|| <= tol * ||b||``. ``info`` is a
    :class:`SolveInfo`.
``cross_term(x, lam, q) -> ndarray (m,)``
    The product ``d12_h(x, lam)^T q``.

``x``, ``q`` and ``b`` are opaque: the loop never does arithmetic on them, it only
passes them back to the problem, so a k-fold criterion may use a list of arrays.
The loop keeps references to earlier ``x`` and ``q`` (to restart after a rejected
step and to return the best point), so a problem must not modify ``x0``, ``q0``
or ``b`` in place: return new objects. ``lam`` is always passed as a fresh copy.

Example
-------
>>> result = hoag(problem, lam0=np.zeros(problem.n_hyperparams))  # doctest: +SKIP
>>> result.lam, result.value, result.converged                     # doctest: +SKIP
"""

import logging
import math
import numbers
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "BoundaryWarning",
    "HOAGProblem",
    "HOAGResult",
    "HyperparameterConvergenceWarning",
    "SolveInfo",
    "hoag",
]

logger = logging.getLogger(__name__)

SCHEDULES = ("exponential", "quadratic", "cubic", "exact")

# Step-size constants (HOAG.md, "Step size"). The change of g that errors of
# relative order eps can explain is taken as
#     allowance = NOISE * (eps_new + eps_old) * |g_old| + eps_old * ||p_old|| * ||s||:
# an error of relative order eps in each value of g, and a hypergradient error of
# relative order eps along the step s. A step is
#   rejected  when g_new > g_old + allowance (or g, p is not finite);
#   accepted, L *= SHRINK when g_new <= g_old - (L/2)||s||^2 + allowance, the
#             descent lemma of an L-smooth f up to the allowance;
#   accepted, L *= GROW otherwise (the quadratic model with this L was too
#             optimistic; growing here beat keeping L: 52 against 61 iterations
#             in the measurements below).
# HOAG.md suggests rejecting at a rise of 20 %; on the ridge problem of the tests
# that accepted a 15 % rise at eps = 1e-4, and the next (too long) step threw
# lam onto the flat part of the criterion, where the run "converged" far from the
# optimum. The allowance is about 15 % at eps_0 = 0.1 and tightens with eps.
_NOISE = 1.0
# With GROW = 2 the long-run share of steps that fail the test is about
# log(1/SHRINK) / log(2/SHRINK): 24 % for 0.8, 13 % for 0.9, 7 % for 0.95.
# Measured on 48 ridge problems (tests/test_outer.py, 12 seeds, 1 and 2
# hyperparameters, 3 starts), exponential schedule, mean outer iterations to
# tol = 1e-6 / total rejections: 0.5: 56/552, 0.8: 50/278, 0.9: 52/170,
# 0.95: 59/108, 0.99: 100/73; cubic schedule: 0.8: 112, 0.9: 96, 0.95: 110.
# 0.9 is as fast as 0.8 with 40 % fewer rejections (each costs two solves).
_SHRINK = 0.9
# After a rise of g or a rejection L doubles, the usual backtracking factor.
_GROW = 2.0
_REJECT_RISE = 0.2
# The first step moves no coordinate by more than this (in lam units): a factor
# e on a log-scaled hyperparameter. The max norm, not the 2-norm, so that one
# large component among hundreds cannot throw its coordinate far away.
_FIRST_STEP = 1.0
# ... and no more than this fraction of the width of a finite box.
_FIRST_STEP_BOX = 0.5
# Progress lines show at most this many coordinates of lam.
_N_SHOWN = 3
_L_FACTOR = {"shrink": _SHRINK, "keep": 1.0, "grow": _GROW}


class HyperparameterConvergenceWarning(UserWarning):
    """The outer loop stopped (max_iter or max_time) before its convergence test."""


class InterruptedWarning(UserWarning):
    """A KeyboardInterrupt ended the search; the best point found so far is kept."""


class BoundaryWarning(UserWarning):
    """The best hyperparameters lie on a bound: the criterion may decrease beyond it."""


@dataclass(frozen=True)
class SolveInfo:
    """Report of an inner or linear solve, returned by the problem's oracles.

    Parameters
    ----------
    n_iter : int
        Iterations used by the solver.
    residual : float
        Relative residual reached: ``||grad_x h|| / s`` for an inner solve,
        ``||H q - b|| / ||b||`` for a linear solve.
    converged : bool
        Whether ``residual <= tol`` was reached.
    message : str, optional
        Free text from the solver, for diagnostics.
    """

    n_iter: int
    residual: float
    converged: bool
    message: str = ""


@runtime_checkable
class HOAGProblem(Protocol):
    """Oracle interface of a bilevel problem solved by :func:`hoag`.

    The problem is ``min_lam g(x(lam), lam)`` with
    ``x(lam) = argmin_x h(x, lam)``; ``h`` is smooth and strongly convex in ``x``.
    ``x``, ``q`` and ``b`` are opaque to the loop (arrays, lists of arrays for k
    folds, ...) and must not be modified in place by the oracles.

    Attributes
    ----------
    n_hyperparams : int
        Number ``m`` of hyperparameters.
    """

    n_hyperparams: int

    def inner_solve(
        self, lam: np.ndarray, x0: Any, tol: float
    ) -> tuple[Any, SolveInfo]:
        """Approximately minimise ``h(., lam)`` from ``x0``.

        Parameters
        ----------
        lam : ndarray of shape (m,)
            Hyperparameters.
        x0 : object or None
            Warm start; ``None`` for a cold start.
        tol : float
            Relative tolerance: stop once ``||grad_x h(x, lam)|| <= tol * s``,
            ``s`` the problem's reference scale (e.g. the gradient norm at 0).

        Returns
        -------
        x : object
            Approximate minimiser.
        info : SolveInfo
            Iterations, relative residual, convergence flag.
        """

    def outer_value_grad(
        self, x: Any, lam: np.ndarray
    ) -> tuple[float, Any, np.ndarray]:
        """Validation criterion and its partial gradients.

        Parameters
        ----------
        x : object
            Inner solution.
        lam : ndarray of shape (m,)
            Hyperparameters.

        Returns
        -------
        g : float
            ``g(x, lam)``.
        d1_g : object
            ``grad_x g(x, lam)``, the same kind of object as ``x``.
        d2_g : ndarray of shape (m,)
            ``grad_lam g(x, lam)``.
        """

    def hessian_solve(
        self, x: Any, lam: np.ndarray, b: Any, q0: Any, tol: float
    ) -> tuple[Any, SolveInfo]:
        """Solve ``H q = b`` with ``H = d11_h(x, lam)``.

        Parameters
        ----------
        x : object
            Point where the Hessian is taken.
        lam : ndarray of shape (m,)
            Hyperparameters.
        b : object
            Right-hand side (``d1_g``).
        q0 : object or None
            Warm start; ``None`` for zeros.
        tol : float
            Stop once ``||H q - b|| <= tol * ||b||``.

        Returns
        -------
        q : object
            Approximate solution.
        info : SolveInfo
            Iterations, relative residual, convergence flag.
        """

    def cross_term(self, x: Any, lam: np.ndarray, q: Any) -> np.ndarray:
        """Cross-derivative product ``d12_h(x, lam)^T q``.

        Parameters
        ----------
        x : object
            Inner solution.
        lam : ndarray of shape (m,)
            Hyperparameters.
        q : object
            Solution of the Hessian system.

        Returns
        -------
        ndarray of shape (m,)
            ``d12_h(x, lam)^T q``.
        """


_TRACE_DOC = """\
iteration (int, from 0), lam (the evaluated point, a copy), value (g there),
grad_norm (||p||_2), proj_grad_norm (||lam - P(lam - p)||_inf), eps (relative
tolerance of both solves), inner_iter, inner_residual, inner_converged,
linear_iter, linear_residual, linear_converged, step (1/L after this iteration's
update, the step size of the next move), step_length (||lam - lam_prev||_inf
from the last accepted point), accepted (bool), reason (why accepted/rejected,
or how L changed), time (seconds since the start). Rejected points that failed
before the Hessian solve have NaN gradient fields and zero linear iterations."""


@dataclass
class HOAGResult:
    """Outcome of :func:`hoag`.

    Attributes
    ----------
    lam : ndarray of shape (m,)
        Best hyperparameters seen (lowest criterion among accepted points).
    lam_last : ndarray of shape (m,)
        Last accepted iterate.
    x : object
        Inner solution at ``lam`` (solved to that iteration's tolerance).
    value : float
        Criterion ``g`` at ``lam``.
    hypergradient : ndarray of shape (m,)
        Approximate hypergradient ``p`` at ``lam``.
    n_iter : int
        Outer iterations performed, accepted and rejected. The trace holds one
        record per iteration, then up to two final re-solves of the best point
        and the last iterate (reason "re-evaluated at the final eps").
    n_inner_iter, n_linear_iter : int
        Total iterations of the inner and of the linear (Hessian) solves.
    n_rejected : int
        Rejected steps.
    n_inner_failures, n_linear_failures : int
        Solves that reported ``converged=False``.
    converged : bool
        Whether the convergence test of :func:`hoag` was met.
    message : str
        Why the loop stopped.
    at_lower, at_upper : ndarray of bool, shape (m,)
        Coordinates of ``lam`` on their lower / upper bound (fixed coordinates,
        with equal bounds, are never flagged).
    elapsed : float
        Wall-clock seconds.
    best_iteration : int
        Iteration at which ``lam`` was evaluated.
    trace : list of dict
        One record per outer iteration with keys: {trace}
    interrupted : bool
        Whether a ``KeyboardInterrupt`` ended the run (:func:`hoag` then
        returns the best point found so far).
    """

    lam: np.ndarray
    lam_last: np.ndarray
    x: Any = field(repr=False)
    value: float
    hypergradient: np.ndarray
    n_iter: int
    n_inner_iter: int
    n_linear_iter: int
    n_rejected: int
    n_inner_failures: int
    n_linear_failures: int
    converged: bool
    message: str
    at_lower: np.ndarray
    at_upper: np.ndarray
    elapsed: float
    best_iteration: int
    trace: list = field(default_factory=list, repr=False)
    interrupted: bool = False

    def trace_arrays(self):
        """Return the trace as a dict of arrays, one entry per trace key.

        Returns
        -------
        dict of str to ndarray
            ``lam`` has shape ``(n_iter, m)``, every other entry ``(n_iter,)``;
            ``reason`` is a string array. Suitable for plots, ``np.savez`` or,
            after ``.tolist()``, JSON.
        """
        if not self.trace:
            return {}
        out = {}
        for key in self.trace[0]:
            values = [record[key] for record in self.trace]
            out[key] = np.vstack(values) if key == "lam" else np.asarray(values)
        return out


HOAGResult.__doc__ = HOAGResult.__doc__.format(
    trace=_TRACE_DOC.replace("\n", "\n        ")
)


def hoag(
    problem,
    lam0,
    *,
    bounds=None,
    schedule="exponential",
    tol0=0.1,
    decrease=0.5,
    tol_floor=1e-12,
    max_iter=100,
    max_time=None,
    tol=1e-6,
    step0=None,
    max_step=2.0,
    warn=True,
    verbose=0,
    callback=None,
):
    """Minimise a validation criterion over hyperparameters with HOAG.

    Projected gradient descent on ``f(lam) = g(x(lam), lam)`` with an approximate
    hypergradient. Outer iteration ``k`` with tolerance ``eps_k``:

    1. inner solve at ``lam_k`` from the last accepted ``x``:
       ``||grad_x h(x_k, lam_k)|| <= eps_k * s`` (``s`` the problem's scale);
    2. ``g_k, d1_g, d2_g = outer_value_grad(x_k, lam_k)``;
    3. acceptance test (below); a rejected point skips steps 4 and 5;
    4. linear solve from the last accepted ``q``: ``||H q_k - d1_g|| <= eps_k
       ||d1_g||``, then ``p_k = d2_g - d12_h^T q_k``;
    5. step ``lam_{k+1} = P(lam_k - p_k / L)``, ``P`` the projection on the box.

    Parameters
    ----------
    problem : HOAGProblem
        Object with the oracle interface documented in the module docstring.
    lam0 : array-like of shape (m,)
        Starting hyperparameters (a scalar is accepted when ``m == 1``); projected
        into ``bounds``; never modified.
    bounds : None, pair of float, or array-like of shape (m, 2), default=None
        Box ``lower <= lam <= upper``. A pair ``(lower, upper)`` applies to every
        coordinate; ``None`` or infinite entries mean no bound.
    schedule : {"exponential", "quadratic", "cubic", "exact"} or callable, \
default="exponential"
        Relative tolerance ``eps_k`` of both solves, with ``k = 0, 1, ...`` the
        schedule index: ``tol0 * decrease**k``, ``tol0 / (k + 1)**2``,
        ``tol0 / (k + 1)**3``, or ``tol_floor`` at every iteration ("exact", the
        classical implicit method). A callable is called as ``schedule(k)`` and
        must return a positive float. All but "exact" are summable, as the
        convergence proof of HOAG requires. The index advances by one per
        iteration and by one more after each rejection (a rejection tightens).
    tol0 : float, default=0.1
        First tolerance: a 10 % relative residual is enough to move ``lam`` in
        the right direction on a first step from an arbitrary start, as long
        as the criterion changes enough with ``lam``. Where it is nearly flat,
        the error of a loose solve's hypergradient can outweigh its true value
        and the first steps go the wrong way until ``eps`` catches up: on a9a
        (validation loss 0.3282 at C = 1, 0.3277 at the optimum C = 0.2)
        ``tol0=0.01`` reached 1e-3 of the optimum in 0.14 s against 0.4 to
        0.7 s with 0.1, while on 20newsgroups it took 3.3 s against 2.1 s.
    decrease : float, default=0.5
        Ratio of the exponential schedule, in (0, 1). The paper uses 0.5 to 0.9;
        0.5 reaches ``eps <= tol = 1e-6`` after 18 iterations, while warm starts
        keep each tighter solve cheap.
    tol_floor : float, default=1e-12
        Lower bound on ``eps_k``: below about 1e-12 relative residuals stop being
        reachable in double precision.
    max_iter : int, default=100
        Maximum outer iterations, accepted and rejected, including the first
        evaluation at ``lam0``. A run stopped by it, by ``max_time`` or by
        ``callback`` re-solves its best point and its last iterate at
        ``eps = tol`` (if looser) before returning, so that the value it
        returns is as precise as a converged run's: up to two more solves.
    max_time : float or None, default=None
        Wall-clock budget in seconds, checked after each iteration (the final
        re-solves of ``max_iter`` come on top).
    tol : float, default=1e-6
        Convergence test, checked at accepted iterations:
        ``eps_k <= tol``, ``||lam - P(lam - p)||_inf <= tol * |g|`` (the
        projected gradient relative to the criterion, so that a sum of losses and
        a mean of losses converge alike) and ``||lam_k - lam_prev||_inf <= tol *
        (1 + ||lam_k||_inf)`` (the last accepted step, mixed absolute/relative in
        the units of ``lam``). When the last two hold while ``eps_k > tol``, the
        tolerance is capped at ``tol`` from then on, since more iterations at the
        current precision cannot improve ``lam``. ``tol=0`` runs to ``max_iter``.
    step0 : float or None, default=None
        First step size ``1 / L``. ``None`` sets ``L`` from the first non-zero
        hypergradient so that no coordinate moves by more than 1 (a factor
        ``e`` on a log-scaled hyperparameter) nor by more than half the width of
        its finite box.
    max_step : float or None, default=2.0
        Largest move of one coordinate of ``lam`` in one step (a factor
        ``e**2`` on a log-scaled hyperparameter): a safeguard against a step
        computed from a loose, early hypergradient. None: no limit.
    warn : bool, default=True
        Issue :class:`HyperparameterConvergenceWarning` when ``max_iter`` or
        ``max_time`` ends the run, and :class:`BoundaryWarning` when the best
        ``lam`` lies on a bound. With ``warn=False`` the same facts are in
        ``converged``, ``at_lower`` and ``at_upper``.
    verbose : int, default=0
        ``> 0``: one line per outer iteration on the logger ``hoag._outer`` at
        INFO level, and on ``sys.stderr`` when no logging handler is configured.
    callback : callable or None, default=None
        Called after each iteration with that iteration's trace record (a copy);
        a true return value stops the run.

    Returns
    -------
    HOAGResult
        Best point, last iterate, counts, flags and the per-iteration trace.

    Raises
    ------
    KeyboardInterrupt
        If interrupted before the first point is accepted. Interrupted later,
        the run stops and returns the best point found so far with
        ``interrupted=True`` (and :class:`InterruptedWarning` when ``warn``);
        the re-evaluation of that point at the final tolerance is skipped.
    ValueError
        On invalid arguments, or oracle outputs of the wrong shape.
    TypeError
        If ``problem`` lacks a member of the oracle interface.
    FloatingPointError
        If ``g`` or the hypergradient is not finite at ``lam0``.

    Notes
    -----
    Step size. ``L`` plays the role of a Lipschitz constant of ``grad f``. After
    an accepted step ``s = lam_k - lam_{k-1}`` with hypergradient change
    ``y = p_k - p_{k-1}`` (both on the coordinates that moved):

    - if ``s.y > 0``: ``L <- (y.y) / (s.y)``, the measured curvature along the
      step (the second Barzilai-Borwein step; in one dimension the secant
      method, which needs a handful of steps where a fixed factor needs dozens);
    - otherwise, if ``g_k <= g_{k-1} - (L/2)||s||^2 + (eps_k + eps_{k-1})
      |g_{k-1}| + eps_{k-1} ||p_{k-1}|| ||s||`` (sufficient decrease up to the
      errors of the inexact solves): ``L <- 0.9 L``; else ``L <- 2 L``.

    No coordinate moves by more than ``max_step`` in one step (``L`` is raised
    to ensure it).

    A point is rejected when ``g`` or ``p`` is not finite or when
    ``g_k > g_{k-1} + max(0.2 |g_{k-1}|, allowance)``: ``L`` doubles, the
    schedule advances one extra step, and the accepted point is solved again at
    the tighter tolerance before the next step from it (a loose solve can make
    its value too low, and every step from it would then be rejected).

    The best point is the accepted point with the lowest ``g``, where a later
    point replaces the current best when its ``g`` is lower up to the same error
    allowance ``(eps_k + eps_best) |g_best|``: values computed at different
    tolerances are compared, and the more precise one is preferred when they
    are equal within their errors. Points whose inner solve did not converge
    are chosen only if no converged point exists. At the end the best point
    and the last iterate are solved at the same final tolerance and the lower
    value wins (not after a ``KeyboardInterrupt``).

    References
    ----------
    F. Pedregosa, "Hyperparameter optimization with approximate gradient",
    ICML 2016, arXiv:1602.02355.
    """
    # 0. Validate the arguments and set up the state.
    _check_problem(problem)
    m = int(problem.n_hyperparams)
    lower, upper = _check_bounds(bounds, m)
    lam = _project(_check_lam0(lam0, m), lower, upper)
    eps_of = _make_schedule(schedule, tol0, decrease, tol_floor)
    _check_options(max_iter, max_time, tol, step0, max_step, verbose, callback)

    start = time.perf_counter()
    L = None if step0 is None else 1.0 / step0
    k_sched = 0  # schedule index: +1 per iteration, +1 more per rejection
    trial = lam  # the point evaluated next
    acc = None  # the accepted iterate: the state a rejection returns to
    best = None
    trace = []
    totals = dict(inner=0, linear=0, rejected=0, inner_fail=0, linear_fail=0)
    converged, stopped_by_budget = False, True
    message = f"maximum number of iterations reached (max_iter={max_iter})"

    def record(it, ev, accepted, reason, step_length):
        trace.append(_record(it, ev, accepted, reason, step_length, L, start))
        totals["inner"] += int(ev.inner.n_iter)
        totals["inner_fail"] += not ev.inner.converged
        if ev.linear is not None:
            totals["linear"] += int(ev.linear.n_iter)
            totals["linear_fail"] += not ev.linear.converged
        totals["rejected"] += not accepted
        if verbose > 0:
            _emit(_progress_line(trace[-1]))
        return trace[-1]

    refresh = False  # re-evaluate the accepted point before the next step
    interrupted = False
    try:
        for it in range(max_iter):
            eps = max(eps_of(k_sched), tol_floor)

            # 1.-4. Inner solve warm-started at the accepted x, outer value, early
            # rejection test on g, Hessian solve warm-started at the accepted q,
            # hypergradient p (see _evaluate).
            if acc is None or refresh:
                limit, s, step_length = math.inf, None, 0.0 if refresh else math.inf
            else:
                s = trial - acc.lam
                allowance = _allowance(eps, acc.eps, acc.g, acc.p, s)
                limit = acc.g + max(allowance, _REJECT_RISE * abs(acc.g))
                step_length = float(np.max(np.abs(s)))
            x0, q0 = (None, None) if acc is None else (acc.x, acc.q)
            ev = _evaluate(problem, trial, x0, q0, eps, limit, m, lower, upper)
            if acc is None and ev.failure is not None:
                raise FloatingPointError(
                    f"hoag: {ev.failure} at the starting point lam0 = {trial} "
                    f"(g = {ev.g!r}); check lam0 and the problem's oracles."
                )

            if refresh:
                # 5c. The accepted point, solved again at a tighter eps: its value
                # replaces the old one, which a loose solve may have made too low
                # (then every step from it would be rejected).
                refresh = False
                if ev.failure is None:
                    ev.iteration = it
                    acc, best = ev, _update_best(best, ev)
                trial, L = _next_point(acc.lam, acc.p, L, max_step, lower, upper)
                rec = record(it, ev, ev.failure is None,
                             "re-evaluated accepted point after a rejection", 0.0)
            elif ev.failure is not None:
                # 5a. Reject: double L, tighten eps, and re-evaluate the accepted
                # point at the tighter eps before stepping from it again.
                L = L * _GROW if L is not None else None
                k_sched += 1
                refresh = max(eps_of(k_sched + 1), tol_floor) < acc.eps
                if refresh:
                    trial = acc.lam
                else:
                    trial, L = _next_point(acc.lam, acc.p, L, max_step, lower, upper)
                rec = record(it, ev, False, f"rejected: {ev.failure}", step_length)
            else:
                # 5b. Accept, adapt L to the observed decrease, and step.
                if acc is None:
                    reason = "accepted: starting point"
                else:
                    change = _adapt(ev.g, acc, eps, s, L)
                    L = L * _L_FACTOR[change] if L is not None else None
                    reason = f"accepted: L {change}"
                    # The measured curvature along the step beats the multiplicative
                    # rule: in one dimension it is the secant method, which reaches
                    # the optimum in a few steps where 0.9 L needed dozens.
                    L_secant = _secant_L(s, ev.p - acc.p)
                    if L_secant is not None:
                        L, reason = L_secant, "accepted: L secant"
                if L is None and np.any(ev.p != 0.0):
                    L = _initial_L(ev.p, lower, upper, max_step)
                ev.iteration = it
                acc, best = ev, _update_best(best, ev)
                trial, L = _next_point(acc.lam, acc.p, L, max_step, lower, upper)
                rec = record(it, ev, True, reason, step_length)
            k_sched += 1

            # 6. Stopping tests: convergence, callback, time budget.
            if ev.failure is None:
                lam_scale = 1.0 + float(np.max(np.abs(acc.lam)))
                small_grad = ev.proj_grad <= tol * abs(ev.g)
                small_step = step_length <= tol * lam_scale
                # A point whose inner solve fell short has no reliable p: a
                # zero hypergradient from a failed solve is not an optimum.
                if small_grad and small_step and eps <= tol and ev.inner.converged:
                    converged, stopped_by_budget = True, False
                    message = "converged: eps, projected hypergradient and step <= tol"
                    break
            if callback is not None and callback(_copy_record(rec)):
                stopped_by_budget = False
                message = f"stopped by callback at iteration {it}"
                break
            if max_time is not None and rec["time"] >= max_time:
                message = f"time budget exhausted (max_time={max_time} s)"
                break
    except KeyboardInterrupt:
        # Ctrl-C keeps what was found: the best accepted point is a complete
        # evaluation. Before the first one there is nothing to keep.
        if best is None:
            raise
        interrupted, stopped_by_budget = True, False
        message = (f"interrupted by KeyboardInterrupt after {len(trace)} "
                   f"iterations; the best point found so far is returned")

    # 7. Values computed at different eps are not comparable, and a run stopped
    # by its budget may have loose ones (a relative residual of 1e-2 can move g
    # by a factor of ten on nearly separable data). Re-solve the best point and
    # the last iterate at the final eps, never looser than tol when the run did
    # not converge, and keep the lower value. Ctrl-C asks for no more work.
    n_outer = len(trace)
    if not interrupted:
        eps_final = acc.eps if converged else min(acc.eps, max(tol, tol_floor))
        kept = []
        for point in ([best] if best is acc else [best, acc]):
            if point.eps <= eps_final:
                kept.append(point)
                continue
            ev = _evaluate(
                problem, point.lam, point.x, point.q, eps_final, math.inf, m,
                lower, upper,
            )
            if ev.failure is None:
                ev.iteration = len(trace)
                record(len(trace), ev, True, "re-evaluated at the final eps", 0.0)
                kept.append(ev)
        if kept:
            best = min(kept, key=lambda point: point.g)

    # 8. Assemble the result and warn.
    at_lower, at_upper = _at_bounds(best.lam, lower, upper)
    result = HOAGResult(
        lam=best.lam.copy(),
        lam_last=acc.lam.copy(),
        x=best.x,
        value=best.g,
        hypergradient=best.p.copy(),
        n_iter=n_outer,
        n_inner_iter=totals["inner"],
        n_linear_iter=totals["linear"],
        n_rejected=totals["rejected"],
        n_inner_failures=totals["inner_fail"],
        n_linear_failures=totals["linear_fail"],
        converged=converged,
        message=message,
        at_lower=at_lower,
        at_upper=at_upper,
        elapsed=time.perf_counter() - start,
        best_iteration=best.iteration,
        trace=trace,
        interrupted=interrupted,
    )
    if warn and stopped_by_budget:
        warnings.warn(
            f"HOAG did not converge: {message}. Last projected hypergradient "
            f"norm {acc.proj_grad:.3g} (target {tol * abs(acc.g):.3g}), last eps "
            f"{acc.eps:.3g} (target {tol:.3g}). Increase max_iter or max_time, "
            f"or loosen tol.",
            HyperparameterConvergenceWarning,
            stacklevel=2,
        )
    if warn and interrupted:
        warnings.warn(
            f"HOAG was {message}: lam = {_format_lam(result.lam)}, value "
            f"{result.value:.6g} (iteration {result.best_iteration}).",
            InterruptedWarning,
            stacklevel=2,
        )
    if warn and (at_lower.any() or at_upper.any()):
        warnings.warn(
            _boundary_message(result.lam, at_lower, at_upper),
            BoundaryWarning,
            stacklevel=2,
        )
    return result


# --------------------------------------------------------------------------
# Helpers of the loop


@dataclass
class _Evaluation:
    """Everything computed at one point: solves, value, hypergradient."""

    lam: np.ndarray
    eps: float
    x: Any
    g: float
    inner: Any
    q: Any = None
    p: np.ndarray = None
    linear: Any = None
    proj_grad: float = math.nan
    failure: str = None  # why the point cannot be accepted, if it cannot
    iteration: int = -1


def _evaluate(problem, lam, x0, q0, eps, g_limit, m, lower, upper):
    """Steps 1-4 of an outer iteration at ``lam`` with tolerance ``eps``.

    The Hessian solve is skipped when ``g`` is not finite or exceeds
    ``g_limit``: the point will be rejected and the solve would be wasted.
    """
    lam = lam.copy()

    # 1. Inner solve.
    x, inner = problem.inner_solve(lam.copy(), x0, eps)

    # 2. Outer value and partial gradients.
    g, d1_g, d2_g = problem.outer_value_grad(x, lam.copy())
    ev = _Evaluation(lam=lam, eps=eps, x=x, g=float(g), inner=inner)

    # 3. Reject on g alone, before paying for the Hessian solve.
    if not math.isfinite(ev.g):
        ev.failure = "non-finite value"
        return ev
    if ev.g > g_limit:
        ev.failure = "value rose beyond the error allowance"
        return ev

    # 4. Hessian solve and hypergradient p = d2_g - d12_h^T q.
    ev.q, ev.linear = problem.hessian_solve(x, lam.copy(), d1_g, q0, eps)
    d2_g = _check_vector(d2_g, m, "outer_value_grad (d2_g)")
    cross = _check_vector(problem.cross_term(x, lam.copy(), ev.q), m, "cross_term")
    ev.p = d2_g - cross
    if not np.all(np.isfinite(ev.p)):
        ev.failure = "non-finite hypergradient"
        return ev
    ev.proj_grad = float(np.max(np.abs(lam - _project(lam - ev.p, lower, upper))))
    return ev


def _record(it, ev, accepted, reason, step_length, L, start):
    """The trace record of one evaluation (keys listed in HOAGResult)."""
    p_ok = ev.p is not None and ev.failure is None
    return dict(
        iteration=it,
        lam=ev.lam.copy(),
        value=ev.g,
        grad_norm=float(np.linalg.norm(ev.p)) if p_ok else math.nan,
        proj_grad_norm=ev.proj_grad if accepted else math.nan,
        eps=ev.eps,
        inner_iter=int(ev.inner.n_iter),
        inner_residual=float(ev.inner.residual),
        inner_converged=bool(ev.inner.converged),
        linear_iter=int(ev.linear.n_iter) if ev.linear is not None else 0,
        linear_residual=(
            float(ev.linear.residual) if ev.linear is not None else math.nan
        ),
        linear_converged=ev.linear is not None and bool(ev.linear.converged),
        step=1.0 / L if L is not None else math.nan,
        step_length=step_length,
        accepted=accepted,
        reason=reason,
        time=time.perf_counter() - start,
    )


def _project(lam, lower, upper):
    """Projection on the box: ``P(lam) = clip(lam, lower, upper)``."""
    return np.clip(lam, lower, upper)


def _next_point(lam, p, L, max_step, lower, upper):
    """Projected gradient step ``P(lam - p / L)`` and the L it used.

    L is raised when needed so that no coordinate moves by more than
    ``max_step``; the raised value is returned, so that L keeps describing the
    steps actually taken. While L is unset (p has been zero) lam stays put.
    """
    if L is None:
        return lam.copy(), None
    if max_step is not None:
        L = max(L, float(np.max(np.abs(p))) / max_step)
    return _project(lam - p / L, lower, upper), L


def _secant_L(s, y):
    """Curvature of f along the last step, ``(y.y) / (s.y)``, or None if ``s.y <= 0``.

    ``s`` is the accepted step and ``y`` the change of hypergradient along it:
    the inverse of the second Barzilai-Borwein step size, the larger (safer) of
    the two BB estimates of ``L``. Steps are still capped by ``max_step`` and
    checked by the acceptance test, which catches an estimate spoiled by the
    errors of loose solves.
    """
    # Coordinates that did not move (held on a bound) carry no curvature
    # information, and their gradient change would inflate y.y.
    moved = s != 0
    s, y = s[moved], y[moved]
    sy = float(s @ y)
    if not (sy > 0 and math.isfinite(sy)):
        return None
    return float(y @ y) / sy


def _initial_L(p, lower, upper, max_step):
    """First L: the step ``p / L`` moves no coordinate by more than
    ``min(_FIRST_STEP, max_step)`` nor by more than ``_FIRST_STEP_BOX`` of the
    width of its finite box."""
    first = _FIRST_STEP if max_step is None else min(_FIRST_STEP, max_step)
    L = float(np.max(np.abs(p))) / first
    width = upper - lower
    finite = np.isfinite(width) & (width > 0)
    if np.any(finite):
        box = np.abs(p[finite]) / (_FIRST_STEP_BOX * width[finite])
        L = max(L, float(np.max(box)))
    return L


def _allowance(eps, eps_old, g_old, p_old, s):
    """Change of g that errors of relative order eps can explain::

        NOISE (eps + eps_old) |g_old| + eps_old ||p_old|| ||s||
    """
    allowance = _NOISE * (eps + eps_old) * abs(g_old)
    if p_old is not None:
        allowance += eps_old * float(np.linalg.norm(p_old) * np.linalg.norm(s))
    return allowance


def _adapt(g, acc, eps, s, L):
    """How L changes after an accepted step ``s`` from ``acc``.

    "shrink" after a sufficient decrease up to the errors of the solves::

        g <= g_acc - (L/2) ||s||^2 + allowance(eps, eps_acc, g_acc, p_acc, s)

    and "grow" otherwise: the quadratic model with this L was too optimistic.
    """
    if L is None:
        return "keep"
    allowance = _allowance(eps, acc.eps, acc.g, acc.p, s)
    if g <= acc.g - 0.5 * L * float(s @ s) + allowance:
        return "shrink"
    return "grow"


def _update_best(best, ev):
    """The better of the best point so far and a new accepted point ``ev``.

    Points whose inner solve converged beat those whose solve did not. A new
    evaluation of the same lam (more precise) replaces the old one. Otherwise
    ``ev`` wins when ``g <= g_best + NOISE (eps + eps_best) |g_best|``: equal
    within their errors, the later and more precise value is preferred.
    """
    if best is None:
        return ev
    ok, best_ok = bool(ev.inner.converged), bool(best.inner.converged)
    if ok != best_ok:
        return ev if ok else best
    if np.array_equal(ev.lam, best.lam):
        return ev
    allowance = _NOISE * (ev.eps + best.eps) * abs(best.g)
    return ev if ev.g <= best.g + allowance else best


def _at_bounds(lam, lower, upper):
    """Masks of the coordinates on their lower / upper bound (fixed ones excluded)."""
    free = lower < upper
    return free & (lam <= lower), free & (lam >= upper)


def _boundary_message(lam, at_lower, at_upper, n_shown=5):
    """One aggregated message for the coordinates of ``lam`` on a bound."""
    parts = []
    for name, mask in (("lower", at_lower), ("upper", at_upper)):
        idx = np.flatnonzero(mask)
        if idx.size:
            shown = ", ".join(f"lam[{i}]={lam[i]:.4g}" for i in idx[:n_shown])
            more = f", ... ({idx.size - n_shown} more)" if idx.size > n_shown else ""
            parts.append(f"{idx.size} at the {name} bound ({shown}{more})")
    n = int(at_lower.sum() + at_upper.sum())
    return (
        f"{n} of {lam.size} hyperparameters ended on a bound: "
        + "; ".join(parts)
        + ". The validation criterion may keep decreasing beyond the box; "
        "consider widening `bounds`."
    )


def _copy_record(record):
    """A copy of a trace record that the callback may modify freely."""
    out = dict(record)
    out["lam"] = record["lam"].copy()
    return out


def _format_lam(lam):
    """The first few coordinates of lam, for a progress line."""
    # + 0.0 turns -0.0 (lam0 = -log 1) into 0.0 on the screen.
    shown = ", ".join(f"{v + 0.0:.4g}" for v in lam[:_N_SHOWN])
    more = f", ... (m={lam.size})" if lam.size > _N_SHOWN else ""
    return f"[{shown}{more}]"


def _progress_line(r):
    """One line of progress for a trace record."""
    status = "accepted" if r["accepted"] else "REJECTED"
    return (
        f"hoag it={r['iteration']:4d} lam={_format_lam(r['lam'])} "
        f"g={r['value']:.6e} |p|={r['grad_norm']:.3e} eps={r['eps']:.2e} "
        f"inner={r['inner_iter']} cg={r['linear_iter']} {status} "
        f"t={r['time']:.3f}s"
    )


def _emit(line):
    """Log a progress line at INFO; also print it when logging is unconfigured.

    Without any handler the logging module drops INFO records (its last-resort
    handler shows WARNING and above), so ``verbose`` would print nothing.
    """
    logger.info(line)
    if not logger.hasHandlers():
        print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Validation


_ORACLES = ("inner_solve", "outer_value_grad", "hessian_solve", "cross_term")


def _check_problem(problem):
    """Check that ``problem`` has the members of :class:`HOAGProblem`."""
    missing = [name for name in _ORACLES if not callable(getattr(problem, name, None))]
    if not hasattr(problem, "n_hyperparams"):
        missing.insert(0, "n_hyperparams")
    if missing:
        raise TypeError(
            f"problem lacks the HOAG oracle interface member(s) {missing}; "
            f"see hoag._outer.HOAGProblem."
        )
    m = problem.n_hyperparams
    if not isinstance(m, numbers.Integral) or isinstance(m, bool) or m < 1:
        raise ValueError(f"problem.n_hyperparams must be an integer >= 1, got {m!r}")


def _check_lam0(lam0, m):
    """lam0 as a new finite float array of shape (m,)."""
    try:
        lam = np.array(lam0, dtype=float)  # a copy: lam0 is never modified
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lam0 must be an array of floats, got {lam0!r}") from exc
    if lam.ndim == 0 and m == 1:
        lam = lam.reshape(1)
    if lam.shape != (m,):
        raise ValueError(
            f"lam0 must be a 1-D array of length n_hyperparams={m}, "
            f"got shape {lam.shape}"
        )
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"lam0 must be finite, got {lam}")
    return lam


def _check_bounds(bounds, m):
    """Lower and upper bound arrays of shape (m,); None entries mean infinite."""
    if bounds is None:
        return np.full(m, -np.inf), np.full(m, np.inf)
    try:
        raw = np.array(bounds, dtype=object)
        if raw.shape == (2,):
            raw = np.broadcast_to(raw, (m, 2))
        if raw.shape != (m, 2):
            raise ValueError
        lower = np.array([-np.inf if v is None else v for v in raw[:, 0]], float)
        upper = np.array([np.inf if v is None else v for v in raw[:, 1]], float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bounds must be None, a pair (lower, upper) or an array-like of "
            f"shape (n_hyperparams, 2) = ({m}, 2), got {bounds!r}"
        ) from exc
    if np.any(np.isnan(lower)) or np.any(np.isnan(upper)):
        raise ValueError("bounds must not contain NaN")
    if np.any(lower > upper):
        i = int(np.flatnonzero(lower > upper)[0])
        raise ValueError(
            f"bounds must satisfy lower <= upper; coordinate {i} has "
            f"lower={lower[i]} > upper={upper[i]}"
        )
    if np.any(lower == np.inf) or np.any(upper == -np.inf):
        raise ValueError("bounds: lower must be < +inf and upper > -inf")
    return lower, upper


def _is_positive_real(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _make_schedule(schedule, tol0, decrease, tol_floor):
    """The map k -> eps_k (before capping and flooring) for the chosen schedule."""
    if not _is_positive_real(tol0):
        raise ValueError(f"tol0 must be a positive finite float, got {tol0!r}")
    if not (_is_positive_real(decrease) and decrease < 1):
        raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
    if not _is_positive_real(tol_floor):
        raise ValueError(
            f"tol_floor must be a positive finite float, got {tol_floor!r}"
        )
    if tol_floor > tol0:
        raise ValueError(f"tol_floor={tol_floor} must be <= tol0={tol0}")

    if callable(schedule):
        def eps_of(k):
            eps = schedule(k)
            if not _is_positive_real(eps):
                raise ValueError(
                    f"schedule({k}) must return a positive finite float, got {eps!r}"
                )
            return float(eps)

        return eps_of
    if schedule == "exponential":
        return lambda k: tol0 * decrease**k
    if schedule == "quadratic":
        return lambda k: tol0 / (k + 1) ** 2
    if schedule == "cubic":
        return lambda k: tol0 / (k + 1) ** 3
    if schedule == "exact":
        return lambda k: tol_floor
    raise ValueError(
        f"schedule must be one of {SCHEDULES} or a callable k -> eps, "
        f"got {schedule!r}"
    )


def _check_options(max_iter, max_time, tol, step0, max_step, verbose, callback):
    """Validate the scalar options of :func:`hoag`."""
    if not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool) \
            or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if max_time is not None and not _is_positive_real(max_time):
        raise ValueError(f"max_time must be None or a positive float, got {max_time!r}")
    if not (tol == 0 or _is_positive_real(tol)):
        raise ValueError(f"tol must be a non-negative finite float, got {tol!r}")
    if step0 is not None and not _is_positive_real(step0):
        raise ValueError(f"step0 must be None or a positive float, got {step0!r}")
    if max_step is not None and not _is_positive_real(max_step):
        raise ValueError(
            f"max_step must be None or a positive float, got {max_step!r}"
        )
    if not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative integer, got {verbose!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be None or callable, got {callback!r}")


def _check_vector(value, m, where):
    """An oracle's (m,) float vector, or a ValueError naming the oracle."""
    arr = np.asarray(value, dtype=float)
    if arr.shape != (m,):
        raise ValueError(
            f"{where} must return an array of shape (n_hyperparams,) = ({m},), "
            f"got shape {arr.shape}"
        )
    return arr
