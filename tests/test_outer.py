"""Tests of the HOAG outer loop on a pure-NumPy ridge problem.

The toy problem implements the oracle interface of ``hoag._outer`` with inexact
conjugate-gradient solves, so that the loop really works with approximate
hypergradients; references come from exact solves and SciPy optimisers.
"""

import logging
import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import optimize

from hoag._outer import (
    BoundaryWarning,
    HOAGProblem,
    HOAGResult,
    HyperparameterConvergenceWarning,
    InterruptedWarning,
    SolveInfo,
    hoag,
)

# --------------------------------------------------------------------------
# Toy problem


def _cg(matvec, b, x0, tol, scale, max_iter):
    """Conjugate gradient on ``M x = b`` until ``||b - M x|| <= tol * scale``."""
    x = np.zeros_like(b) if x0 is None else x0.copy()
    r = b - matvec(x)
    target = tol * scale
    d = r.copy()
    rr = r @ r
    n_iter = 0
    while math.sqrt(rr) > target and n_iter < max_iter:
        Md = matvec(d)
        alpha = rr / (d @ Md)
        x += alpha * d
        r -= alpha * Md
        rr_new = r @ r
        d = r + (rr_new / rr) * d
        rr = rr_new
        n_iter += 1
    residual = math.sqrt(rr) / scale if scale > 0 else 0.0
    return x, SolveInfo(n_iter, residual, bool(math.sqrt(rr) <= target))


class RidgeSplit:
    """Ridge regression with a train/validation split and one penalty per group.

    ``h(x, lam) = 1/2 ||A x - b||^2 + sum_j exp(lam_j)/2 ||x_{G_j}||^2`` and
    ``g(x) = 1/2 ||A_val x - b_val||^2 / n_val``; ``groups[i]`` is the group of
    feature ``i``. The inner tolerance is relative to ``||grad_x h(0)|| =
    ||A^T b||``.
    """

    def __init__(self, A, b, A_val, b_val, groups):
        self.A, self.b, self.A_val, self.b_val = A, b, A_val, b_val
        self.groups = np.asarray(groups)
        self.n_hyperparams = int(self.groups.max()) + 1
        self.Atb = A.T @ b
        self.n_calls = 0

    def _alpha(self, lam):
        return np.exp(lam)[self.groups]

    def _hess(self, lam):
        alpha = self._alpha(lam)
        return lambda v: self.A.T @ (self.A @ v) + alpha * v

    def inner_solve(self, lam, x0, tol):
        self.n_calls += 1
        scale = np.linalg.norm(self.Atb)
        return _cg(self._hess(lam), self.Atb, x0, tol, scale, 10 * self.A.shape[1])

    def outer_value_grad(self, x, lam):
        res = self.A_val @ x - self.b_val
        n_val = self.b_val.size
        return 0.5 * res @ res / n_val, self.A_val.T @ res / n_val, np.zeros_like(lam)

    def hessian_solve(self, x, lam, b, q0, tol):
        scale = np.linalg.norm(b)
        return _cg(self._hess(lam), b, q0, tol, scale, 10 * self.A.shape[1])

    def cross_term(self, x, lam, q):
        # d/dlam_j of grad_x h = exp(lam_j) x on group j, zero elsewhere.
        return np.bincount(
            self.groups, weights=self._alpha(lam) * x * q, minlength=self.n_hyperparams
        )

    # Exact references, outside the interface.
    def x_exact(self, lam):
        H = self.A.T @ self.A + np.diag(self._alpha(np.asarray(lam, float)))
        return np.linalg.solve(H, self.Atb)

    def f_exact(self, lam):
        lam = np.atleast_1d(np.asarray(lam, float))
        return self.outer_value_grad(self.x_exact(lam), lam)[0]


def make_ridge(n_groups=1, seed=0, n=40, d=20, n_val=200, noise=1.0):
    """A ridge split whose exact criterion has an interior minimiser."""
    rng = np.random.default_rng(seed)
    x_true = rng.standard_normal(d)
    if n_groups == 2:
        # Different signal strength in the two halves: different optimal penalties.
        x_true[d // 2 :] *= 0.3
    A = rng.standard_normal((n, d))
    A_val = rng.standard_normal((n_val, d))
    b = A @ x_true + noise * rng.standard_normal(n)
    b_val = A_val @ x_true + noise * rng.standard_normal(n_val)
    groups = np.arange(d) * n_groups // d
    return RidgeSplit(A, b, A_val, b_val, groups)


def hypergradient(problem, lam, tol=1e-14):
    """p = d2_g - d12_h^T H^{-1} d1_g assembled from the interface."""
    x, _ = problem.inner_solve(lam, None, tol)
    _, d1_g, d2_g = problem.outer_value_grad(x, lam)
    q, _ = problem.hessian_solve(x, lam, d1_g, None, tol)
    return d2_g - problem.cross_term(x, lam, q)


@pytest.fixture(scope="module")
def ridge1():
    problem = make_ridge()
    grid = np.linspace(-6, 8, 141)
    values = [problem.f_exact(v) for v in grid]
    i = int(np.argmin(values))
    assert 0 < i < grid.size - 1, "the reference optimum must be interior"
    ref = optimize.minimize_scalar(
        problem.f_exact, bracket=(grid[i - 1], grid[i], grid[i + 1]),
        options=dict(xtol=1e-10),
    )
    return problem, float(ref.x), float(ref.fun)


@pytest.fixture(scope="module")
def ridge2():
    problem = make_ridge(n_groups=2, seed=2)

    def fun(lam):
        return problem.f_exact(lam), hypergradient(problem, lam)

    ref = optimize.minimize(
        fun, np.zeros(2), jac=True, method="L-BFGS-B", bounds=[(-8, 10)] * 2,
        options=dict(ftol=1e-15, gtol=1e-12),
    )
    assert np.all(np.abs(ref.x) < 7), "the reference optimum must be interior"
    assert abs(ref.x[0] - ref.x[1]) > 1, "the two penalties must differ"
    return problem, ref.x, float(ref.fun)


def run(problem, lam0, **kwargs):
    """hoag() with warnings turned into errors unless the test expects them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return hoag(problem, lam0, **kwargs)


# --------------------------------------------------------------------------
# The toy problem and the interface


def test_toy_problem_satisfies_protocol():
    assert isinstance(make_ridge(), HOAGProblem)


@pytest.mark.parametrize("n_groups", [1, 2])
def test_hypergradient_matches_finite_differences(n_groups):
    problem = make_ridge(n_groups=n_groups, seed=3)
    lam = np.linspace(-0.5, 1.0, n_groups)
    p = hypergradient(problem, lam)
    h = 1e-4
    fd = np.empty(n_groups)
    for j in range(n_groups):
        e = np.zeros(n_groups)
        e[j] = h
        fd[j] = (problem.f_exact(lam + e) - problem.f_exact(lam - e)) / (2 * h)
    assert_allclose(p, fd, rtol=1e-6)


def test_inner_solve_is_inexact_at_loose_tolerance():
    # The loop must be tested with genuinely approximate solves.
    problem = make_ridge()
    x, info = problem.inner_solve(np.zeros(1), None, 0.1)
    assert info.converged and info.residual <= 0.1
    assert 0 < info.n_iter < 10
    assert np.linalg.norm(x - problem.x_exact(np.zeros(1))) > 1e-3


# --------------------------------------------------------------------------
# Convergence to the exact optimum


@pytest.mark.parametrize(
    "schedule", ["exponential", "quadratic", "cubic", "exact", lambda k: 0.05 * 0.7**k]
)
def test_converges_to_1d_optimum(ridge1, schedule):
    problem, lam_ref, f_ref = ridge1
    lam0 = np.array([lam_ref - 3.0])
    # eps_k = 0.1 / (k + 1)**2 reaches tol = 1e-6 only after ~316 iterations.
    max_iter = 1000 if schedule in ("quadratic", "cubic") else 100
    res = run(problem, lam0, schedule=schedule, max_iter=max_iter)
    assert isinstance(res, HOAGResult)
    assert res.converged, res.message
    assert res.value == pytest.approx(f_ref, rel=1e-3)
    assert problem.f_exact(res.lam) == pytest.approx(f_ref, rel=1e-6)
    assert res.lam[0] == pytest.approx(lam_ref, abs=1e-3)
    # The trace may end with the final re-solve of an earlier best point.
    assert res.n_iter < max_iter and res.n_iter <= len(res.trace) <= res.n_iter + 2


def test_converges_to_2d_optimum(ridge2):
    problem, lam_ref, f_ref = ridge2
    res = run(problem, np.zeros(2))
    assert res.converged, res.message
    assert res.value == pytest.approx(f_ref, rel=1e-3)
    assert problem.f_exact(res.lam) == pytest.approx(f_ref, rel=1e-6)
    assert_allclose(res.lam, lam_ref, atol=1e-2)


def test_warm_starts_make_late_solves_cheap(ridge1):
    # Warm starts are the point of HOAG: late inner solves barely iterate.
    problem, lam_ref, _ = ridge1
    res = run(problem, np.array([lam_ref - 3.0]))
    inner = res.trace_arrays()["inner_iter"]
    assert inner[-3:].mean() < inner.max()


def test_counts_and_trace_are_consistent(ridge2):
    problem, _, _ = ridge2
    res = run(problem, np.zeros(2))
    arrays = res.trace_arrays()
    assert arrays["lam"].shape == (res.n_iter, 2)
    assert arrays["inner_iter"].sum() == res.n_inner_iter
    assert arrays["linear_iter"].sum() == res.n_linear_iter
    assert (~arrays["accepted"]).sum() == res.n_rejected
    assert np.all(np.diff(arrays["time"]) >= 0)
    assert arrays["reason"].dtype.kind == "U"
    # eps follows the exponential schedule, floored, and never loosens.
    assert arrays["eps"][0] == 0.1
    assert np.all(np.diff(arrays["eps"]) <= 0)
    # The best point is one of the accepted evaluations.
    i = res.best_iteration
    assert arrays["accepted"][i]
    assert_allclose(arrays["lam"][i], res.lam)
    assert arrays["value"][i] == res.value


# --------------------------------------------------------------------------
# Bounds


def test_optimum_above_box_ends_at_upper_bound(ridge1):
    problem, lam_ref, _ = ridge1
    upper = lam_ref - 1.0
    with pytest.warns(BoundaryWarning, match=r"1 of 1 .*upper bound"):
        res = hoag(problem, np.array([upper - 2.0]), bounds=(-10.0, upper))
    assert res.converged, res.message
    assert res.lam[0] == upper
    assert res.at_upper.tolist() == [True] and res.at_lower.tolist() == [False]


def test_box_above_optimum_matches_bounded_reference(ridge2):
    # A box whose lower bound lies above the unconstrained optimum: the result
    # equals SciPy's bounded optimum, with the same active bounds flagged.
    problem, lam_ref, _ = ridge2
    lower = lam_ref.max() + 1.0

    def fun(lam):
        return problem.f_exact(lam), hypergradient(problem, lam)

    ref = optimize.minimize(
        fun, np.full(2, lower + 0.5), jac=True, method="L-BFGS-B",
        bounds=[(lower, 20)] * 2, options=dict(ftol=1e-15, gtol=1e-12),
    )
    on_bound = ref.x <= lower
    assert on_bound.any()
    with pytest.warns(BoundaryWarning, match=r"of 2 .*lower bound"):
        res = hoag(problem, np.array([lower + 1.0, lower + 0.5]),
                   bounds=(lower, 20), max_iter=500)
    assert problem.f_exact(res.lam) == pytest.approx(ref.fun, rel=1e-6)
    assert res.at_lower.tolist() == on_bound.tolist()
    assert_allclose(res.lam[on_bound], lower)
    assert not res.at_upper.any()


def test_per_coordinate_bounds_and_projection_of_lam0(ridge2):
    problem, lam_ref, _ = ridge2
    # Coordinate 0 is fixed, coordinate 1 is free: lam0 is projected into the box.
    bounds = [(0.5, 0.5), (None, None)]
    res = run(problem, np.array([3.0, 0.0]), bounds=bounds)
    assert res.trace[0]["lam"][0] == 0.5
    assert np.all(res.trace_arrays()["lam"][:, 0] == 0.5)
    assert not res.at_lower.any() and not res.at_upper.any()
    assert res.converged


def test_no_boundary_warning_when_warn_false(ridge1):
    problem, lam_ref, _ = ridge1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = hoag(problem, np.zeros(1), bounds=(-10, lam_ref - 1), warn=False)
    assert res.at_upper[0]


# --------------------------------------------------------------------------
# Stopping


class _InnerNeverConverges:
    """A problem whose inner solves all report failure (same x otherwise)."""

    def __init__(self, problem):
        self.problem = problem
        self.n_hyperparams = problem.n_hyperparams

    def inner_solve(self, lam, x0, tol):
        x, info = self.problem.inner_solve(lam, x0, tol)
        return x, SolveInfo(info.n_iter, info.residual, False)

    def outer_value_grad(self, x, lam):
        return self.problem.outer_value_grad(x, lam)

    def hessian_solve(self, x, lam, b, q0, tol):
        return self.problem.hessian_solve(x, lam, b, q0, tol)

    def cross_term(self, x, lam, q):
        return self.problem.cross_term(x, lam, q)


def test_failed_inner_solves_never_converge(ridge1):
    problem, _, _ = ridge1
    converged = run(problem, np.zeros(1), max_iter=200)
    assert converged.converged and converged.n_iter < 200

    res = run(_InnerNeverConverges(problem), np.zeros(1), max_iter=converged.n_iter,
              warn=False)
    assert not res.converged and "max_iter" in res.message
    assert res.n_inner_failures == len(res.trace)


def test_a_stop_at_max_iter_resolves_at_tol(ridge1):
    problem, _, _ = ridge1
    tol = 1e-6
    res = run(problem, np.zeros(1), max_iter=4, tol=tol, warn=False)
    assert res.n_iter == 4 and not res.converged
    final = res.trace[res.n_iter:]
    assert 1 <= len(final) <= 2
    assert all(r["eps"] == tol and "final eps" in r["reason"] for r in final)
    # The value returned is the one at eps = tol, close to the exact criterion.
    assert res.value == pytest.approx(problem.f_exact(res.lam), rel=1e-4)


def test_callback_true_stops_after_that_iteration(ridge1):
    problem, _, _ = ridge1
    seen = []

    def callback(record):
        seen.append(record["iteration"])
        record["lam"][:] = 1e9  # must not corrupt the trace
        return record["iteration"] == 2

    res = run(problem, np.zeros(1), callback=callback)
    assert seen == [0, 1, 2]
    assert res.n_iter == 3 and not res.converged
    assert "callback" in res.message
    assert np.all(np.abs(res.trace_arrays()["lam"]) < 1e3)


def test_max_iter_warns(ridge1):
    problem, _, _ = ridge1
    with pytest.warns(HyperparameterConvergenceWarning, match="max_iter=3"):
        res = hoag(problem, np.zeros(1), max_iter=3)
    assert res.n_iter == 3 and not res.converged
    assert np.isfinite(res.value)


def test_max_time_stops(ridge1):
    problem, _, _ = ridge1
    with pytest.warns(HyperparameterConvergenceWarning, match="max_time"):
        res = hoag(problem, np.zeros(1), max_time=1e-9)
    assert res.n_iter == 1 and not res.converged


# --------------------------------------------------------------------------
# Rejections and non-finite values


class NaNAbove(RidgeSplit):
    """The ridge problem with a NaN criterion for ``lam > threshold``."""

    threshold = math.inf
    nan_in = "g"

    def outer_value_grad(self, x, lam):
        g, d1_g, d2_g = super().outer_value_grad(x, lam)
        if self.nan_in == "g" and lam[0] > self.threshold:
            g = math.nan
        return g, d1_g, d2_g

    def cross_term(self, x, lam, q):
        out = super().cross_term(x, lam, q)
        if self.nan_in == "p" and lam[0] > self.threshold:
            out[:] = math.nan
        return out


@pytest.mark.parametrize("nan_in", ["g", "p"])
def test_nan_region_is_rejected(ridge1, nan_in):
    base, lam_ref, f_ref = ridge1
    problem = NaNAbove(base.A, base.b, base.A_val, base.b_val, base.groups)
    lam0 = lam_ref - 0.3
    # The first step moves lam by 1 towards the optimum, into the NaN region.
    problem.threshold = lam0 + 0.6
    problem.nan_in = nan_in
    res = run(problem, np.array([lam0]))
    arrays = res.trace_arrays()
    assert res.n_rejected >= 1
    first = int(np.flatnonzero(~arrays["accepted"])[0])
    assert arrays["lam"][first, 0] > problem.threshold
    assert "non-finite" in arrays["reason"][first]
    # The rejection halves the step and tightens eps beyond the schedule.
    assert arrays["step"][first] == pytest.approx(arrays["step"][first - 1] / 2)
    assert arrays["eps"][first + 1] == pytest.approx(arrays["eps"][first] / 4)
    assert arrays["lam"][first + 1, 0] < problem.threshold
    # No accepted point is non-finite and the result is finite and good.
    assert np.all(np.isfinite(arrays["value"][arrays["accepted"]]))
    assert np.isfinite(res.value) and np.all(np.isfinite(res.hypergradient))
    assert res.converged
    assert res.value == pytest.approx(f_ref, rel=1e-3)


def test_clear_increase_is_rejected_and_restored(ridge1):
    # A huge first step (lam moves by about +8) overshoots far past the
    # optimum: g rises by more than 20 %.
    problem, lam_ref, f_ref = ridge1
    # Exact solves make the first hypergradient, hence the step, predictable.
    res = run(problem, np.array([lam_ref - 2.0]), step0=1e3, max_step=None,
              schedule="exact")
    arrays = res.trace_arrays()
    assert not arrays["accepted"][1]
    assert "rose" in arrays["reason"][1]
    assert arrays["value"][1] > 1.2 * arrays["value"][0]
    assert np.isnan(arrays["grad_norm"][1]) and arrays["linear_iter"][1] == 0
    # L doubles; with exact solves the accepted point needs no new solve, and
    # the next trial steps from it with the halved step.
    assert arrays["step"][1] == pytest.approx(0.5e3)
    assert arrays["lam"][2, 0] - arrays["lam"][0, 0] == pytest.approx(
        0.5 * (arrays["lam"][1, 0] - arrays["lam"][0, 0]))
    assert res.converged
    assert res.value == pytest.approx(f_ref, rel=1e-3)


def test_nan_at_start_raises(ridge1):
    base, lam_ref, _ = ridge1
    problem = NaNAbove(base.A, base.b, base.A_val, base.b_val, base.groups)
    problem.threshold = 0.0
    with pytest.raises(FloatingPointError, match="lam0"):
        hoag(problem, np.array([1.0]))


# --------------------------------------------------------------------------
# Inputs


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lam0=np.zeros(2)), "lam0"),
        (dict(lam0=np.zeros((1, 1))), "lam0"),
        (dict(lam0=[np.nan]), "lam0"),
        (dict(lam0="a"), "lam0"),
        (dict(bounds=(1.0, 0.0)), "bounds"),
        (dict(bounds=[(0, 1), (0, 1)]), "bounds"),
        (dict(bounds=(0.0, np.nan)), "bounds"),
        (dict(bounds="x"), "bounds"),
        (dict(schedule="linear"), "schedule"),
        (dict(schedule=lambda k: -1.0), "schedule"),
        (dict(tol0=0.0), "tol0"),
        (dict(decrease=1.0), "decrease"),
        (dict(tol_floor=-1.0), "tol_floor"),
        (dict(tol_floor=1.0), "tol_floor"),
        (dict(max_iter=0), "max_iter"),
        (dict(max_iter=2.5), "max_iter"),
        (dict(max_time=-1.0), "max_time"),
        (dict(tol=-1e-3), "tol"),
        (dict(step0=0.0), "step0"),
        (dict(verbose=-1), "verbose"),
        (dict(callback=3), "callback"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    problem = make_ridge()
    kwargs = dict(dict(lam0=np.zeros(1)), **kwargs)
    with pytest.raises(ValueError, match=match):
        hoag(problem, **kwargs)


def test_problem_without_interface_raises():
    with pytest.raises(TypeError, match="cross_term"):
        hoag(object(), np.zeros(1))


def test_wrong_oracle_shape_raises():
    class Bad(RidgeSplit):
        def cross_term(self, x, lam, q):
            return np.zeros(3)

    base = make_ridge()
    problem = Bad(base.A, base.b, base.A_val, base.b_val, base.groups)
    with pytest.raises(ValueError, match="cross_term"):
        hoag(problem, np.zeros(1))


def test_lam0_not_modified_and_scalar_accepted(ridge1):
    problem, _, _ = ridge1
    lam0 = np.array([0.25])
    res = run(problem, lam0, max_iter=5, warn=False)
    assert lam0.tolist() == [0.25]
    assert res.lam is not lam0
    res_scalar = run(problem, 0.25, max_iter=5, warn=False)
    assert_allclose(res_scalar.lam, res.lam)


# --------------------------------------------------------------------------
# Progress output


def test_verbose_logs_one_line_per_iteration(ridge1, caplog):
    problem, _, _ = ridge1
    with caplog.at_level(logging.INFO, logger="hoag._outer"):
        res = run(problem, np.zeros(1), verbose=1, max_iter=6, warn=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "hoag._outer"]
    # One line per iteration, and per final re-solve at eps = tol.
    assert res.n_iter == 6 and len(lines) == len(res.trace) <= 8
    assert all("g=" in s and "eps=" in s and "cg=" in s for s in lines)
    assert lines[0].startswith("hoag it=   0")


def test_verbose_prints_without_logging_config(ridge1, capsys):
    problem, _, _ = ridge1
    log = logging.getLogger("hoag._outer")
    # Simulate an application without logging configuration (pytest adds
    # handlers to the root logger, so cut propagation to hide them).
    log.propagate = False
    try:
        res = run(problem, np.zeros(1), verbose=1, max_iter=4, warn=False)
    finally:
        log.propagate = True
    err = capsys.readouterr().err.strip().splitlines()
    assert res.n_iter == 4 and len(err) == len(res.trace) <= 6
    assert "accepted" in err[0]


def test_silent_by_default(ridge1, capsys, caplog):
    problem, _, _ = ridge1
    with caplog.at_level(logging.INFO, logger="hoag._outer"):
        run(problem, np.zeros(1), max_iter=4, warn=False)
    assert not [r for r in caplog.records if r.name == "hoag._outer"]
    assert capsys.readouterr().err == ""


class InterruptAt(RidgeSplit):
    """The ridge problem whose ``n``-th inner solve raises KeyboardInterrupt."""

    interrupt_at = 1

    def inner_solve(self, lam, x0, tol):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return super().inner_solve(lam, x0, tol)


@pytest.mark.parametrize("interrupt_at", [2, 5, 9])
def test_keyboard_interrupt_returns_the_best_point_so_far(ridge1, interrupt_at):
    base, lam_ref, _ = ridge1
    problem = InterruptAt(base.A, base.b, base.A_val, base.b_val, base.groups)
    problem.interrupt_at = interrupt_at
    with pytest.warns(InterruptedWarning, match="interrupted by KeyboardInterrupt"):
        res = hoag(problem, np.array([lam_ref - 3.0]), max_iter=100)

    # The loop stopped at that solve: one trace record per completed solve.
    assert res.interrupted and not res.converged
    assert res.n_iter == interrupt_at - 1
    assert "interrupted" in res.message
    # The result is the best accepted point of the trace, as it was evaluated
    # (no re-evaluation after the interrupt).
    arrays = res.trace_arrays()
    accepted = np.flatnonzero(arrays["accepted"])
    best = accepted[np.argmin(arrays["value"][accepted])]
    assert res.lam[0] == arrays["lam"][best, 0]
    assert res.value == arrays["value"][best]
    assert res.best_iteration == best


def test_keyboard_interrupt_before_any_point_propagates(ridge1):
    base, lam_ref, _ = ridge1
    problem = InterruptAt(base.A, base.b, base.A_val, base.b_val, base.groups)
    with pytest.raises(KeyboardInterrupt):
        hoag(problem, np.array([lam_ref]))
