"""The oracles of LogisticProblem and MeanOverFolds against NumPy references.

Every reference here is independent of the compiled core: the training
objective, its gradient and Hessian are written in NumPy, the "exact" inner
solution comes from a damped Newton method in NumPy (machine precision in a
dozen steps on these small problems), and the hypergradient is checked against
centred finite differences of the validation loss at those exact solutions.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from hoag._cv import MeanOverFolds
from hoag.models import LogisticProblem

C_VALUES = [0.1, 1.0, 10.0]
TIGHT = 1e-12


# ----------------------------------------------------------------------
# Data and NumPy references


def make_data(seed=0, n=120, n_val=60, p=8, density=0.6, noise=0.8):
    """Sparse-ish Gaussian features and noisy linear labels in {-1, +1}."""
    rng = np.random.RandomState(seed)
    w = rng.randn(p)

    def draw(m):
        A = rng.randn(m, p) * (rng.rand(m, p) < density)
        y = np.where(A @ w + 0.3 + noise * rng.randn(m) > 0, 1.0, -1.0)
        return A, y

    A, y = draw(n)
    A_val, y_val = draw(n_val)
    return A, y, A_val, y_val


def design(A, fit_intercept):
    """Dense design matrix, with a column of ones for the intercept."""
    A = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
    return np.hstack([A, np.ones((A.shape[0], 1))]) if fit_intercept else A


def penalty_vector(lam, p, fit_intercept, groups=None):
    """alpha_j = exp(lam[G_j]) per coefficient, 0 for the intercept."""
    groups = np.zeros(p, dtype=int) if groups is None else np.asarray(groups)
    alpha = np.exp(np.asarray(lam, dtype=float))[groups]
    return np.append(alpha, 0.0) if fit_intercept else alpha


def np_value_grad(Z, y, s, alpha, x):
    """h(x) = sum s_i log(1 + exp(-y_i z_i)) + 1/2 sum alpha_j x_j^2 and grad."""
    z = Z @ x
    value = np.sum(s * np.logaddexp(0.0, -y * z)) + 0.5 * np.sum(alpha * x * x)
    r = -s * y * expit(-y * z)
    return value, Z.T @ r + alpha * x


def np_hessian(Z, s, alpha, x):
    """H = Z^T diag(s sigma(z) (1 - sigma(z))) Z + diag(alpha), as a matrix."""
    z = Z @ x
    d = s * expit(z) * expit(-z)
    return (Z.T * d) @ Z + np.diag(alpha)


def np_newton(Z, y, s, alpha):
    """Exact minimiser of h by damped Newton (to machine precision)."""
    x = np.zeros(Z.shape[1])
    value, grad = np_value_grad(Z, y, s, alpha, x)
    scale = np.linalg.norm(grad)
    for _ in range(100):
        if np.linalg.norm(grad) <= 1e-15 * scale:
            break
        step = np.linalg.solve(np_hessian(Z, s, alpha, x), -grad)
        t = 1.0
        while True:
            new_value, new_grad = np_value_grad(Z, y, s, alpha, x + t * step)
            if new_value <= value + 1e-4 * t * (grad @ step) or t < 1e-10:
                break
            t *= 0.5
        x, value, grad = x + t * step, new_value, new_grad
        if t == 1.0 and np.linalg.norm(t * step) <= 1e-16 * np.linalg.norm(x):
            break
    return x


def np_val_loss(Z_val, y_val, v, x):
    """Weighted mean held-out log loss."""
    v = np.ones(len(y_val)) if v is None else v
    return np.sum(v * np.logaddexp(0.0, -y_val * (Z_val @ x))) / np.sum(v)


class Reference:
    """The exact validation loss f(lam) of one split, computed in NumPy."""

    def __init__(self, A, y, A_val, y_val, fit_intercept, groups=None,
                 sw=None, sw_val=None):
        self.Z, self.Z_val = design(A, fit_intercept), design(A_val, fit_intercept)
        self.y, self.y_val = y, y_val
        self.s = np.ones(len(y)) if sw is None else sw
        self.v = sw_val
        self.p = A.shape[1]
        self.fit_intercept = fit_intercept
        self.groups = groups

    def alpha(self, lam):
        return penalty_vector(lam, self.p, self.fit_intercept, self.groups)

    def solve(self, lam):
        return np_newton(self.Z, self.y, self.s, self.alpha(lam))

    def f(self, lam):
        return np_val_loss(self.Z_val, self.y_val, self.v, self.solve(lam))


def finite_difference(f, lam, h=1e-3):
    """Centred fourth-order finite-difference gradient of f at lam."""
    lam = np.asarray(lam, dtype=float)
    grad = np.zeros_like(lam)
    for k in range(lam.size):
        e = np.zeros_like(lam)
        e[k] = h
        grad[k] = (-f(lam + 2 * e) + 8 * f(lam + e) - 8 * f(lam - e)
                   + f(lam - 2 * e)) / (12 * h)
    return grad


def hypergradient(problem, lam, tol=TIGHT):
    """d2_g - cross_term(x, lam, H^{-1} d1_g) with tight inner and CG solves."""
    x, inner = problem.inner_solve(lam.copy(), None, tol)
    assert inner.converged, inner
    _, d1_g, d2_g = problem.outer_value_grad(x, lam.copy())
    q, linear = problem.hessian_solve(x, lam.copy(), d1_g, None, tol)
    assert linear.converged, linear
    return np.asarray(d2_g) - problem.cross_term(x, lam.copy(), q)


def as_layout(A, layout):
    return sp.csr_matrix(A) if layout == "csr" else np.ascontiguousarray(A)


# ----------------------------------------------------------------------
# Hypergradient against finite differences


@pytest.mark.parametrize("C", C_VALUES)
@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_hypergradient_matches_finite_differences(C, layout, fit_intercept):
    """The implicit-function hypergradient equals the slope of the exact f(lam)."""
    A, y, A_val, y_val = make_data(seed=1)
    problem = LogisticProblem(as_layout(A, layout), y, as_layout(A_val, layout),
                              y_val, fit_intercept=fit_intercept)
    ref = Reference(A, y, A_val, y_val, fit_intercept)
    lam = np.array([-np.log(C)])
    p = hypergradient(problem, lam)
    fd = finite_difference(ref.f, lam)
    assert abs(fd[0]) > 1e-4, "the slope must be large enough to be measured"
    np.testing.assert_allclose(p, fd, rtol=1e-4, atol=0)


@pytest.mark.parametrize("C", C_VALUES)
def test_hypergradient_with_sample_weights(C):
    """Training and validation weights enter h, g and the hypergradient alike."""
    A, y, A_val, y_val = make_data(seed=2)
    rng = np.random.RandomState(3)
    sw, sw_val = rng.uniform(0.2, 3.0, len(y)), rng.uniform(0.2, 3.0, len(y_val))
    problem = LogisticProblem(A, y, A_val, y_val, sample_weight_train=sw,
                              sample_weight_val=sw_val)
    ref = Reference(A, y, A_val, y_val, True, sw=sw, sw_val=sw_val)
    lam = np.array([-np.log(C)])
    np.testing.assert_allclose(hypergradient(problem, lam),
                               finite_difference(ref.f, lam), rtol=1e-4, atol=0)


@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_hypergradient_per_group(layout, fit_intercept):
    """With groups= each hyperparameter's component equals its own slope."""
    A, y, A_val, y_val = make_data(seed=4, p=9)
    groups = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1])
    problem = LogisticProblem(as_layout(A, layout), y, as_layout(A_val, layout),
                              y_val, fit_intercept=fit_intercept, groups=groups)
    assert problem.n_hyperparams == 3
    ref = Reference(A, y, A_val, y_val, fit_intercept, groups=groups)
    lam = np.array([-np.log(0.3), -np.log(3.0), 0.0])
    p = hypergradient(problem, lam)
    fd = finite_difference(ref.f, lam)
    assert p.shape == (3,)
    assert np.min(np.abs(fd)) > 1e-4, "every component must be measurable"
    np.testing.assert_allclose(p, fd, rtol=1e-4, atol=0)


def test_single_group_equals_default():
    """groups of all zeros is the single hyperparameter of the default."""
    A, y, A_val, y_val = make_data(seed=5)
    lam = np.array([0.5])
    default = hypergradient(LogisticProblem(A, y, A_val, y_val), lam)
    grouped = hypergradient(LogisticProblem(
        A, y, A_val, y_val, groups=np.zeros(A.shape[1], dtype=int)), lam)
    np.testing.assert_allclose(grouped, default, rtol=1e-10)


def test_penalty_leaves_intercept_free():
    """penalty() puts exp(lam) on every feature and 0 on the intercept."""
    A, y, A_val, y_val = make_data(seed=6)
    problem = LogisticProblem(A, y, A_val, y_val, fit_intercept=True)
    alpha = problem.penalty(np.array([np.log(2.5)]))
    assert alpha.shape == (A.shape[1] + 1,)
    np.testing.assert_allclose(alpha[:-1], 2.5, rtol=1e-15)
    assert alpha[-1] == 0.0


# ----------------------------------------------------------------------
# Inner solve


@pytest.mark.parametrize("tol", [1e-2, 1e-5, 1e-9])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_inner_solve_meets_relative_tolerance(tol, layout):
    """||grad_x h(x)|| <= tol * ||grad_x h(0)||, as reported and as recomputed."""
    A, y, A_val, y_val = make_data(seed=7)
    problem = LogisticProblem(as_layout(A, layout), y, as_layout(A_val, layout),
                              y_val)
    ref = Reference(A, y, A_val, y_val, True)
    lam = np.array([-np.log(1.0)])
    alpha = ref.alpha(lam)
    _, grad0 = np_value_grad(ref.Z, ref.y, ref.s, alpha, np.zeros(ref.Z.shape[1]))
    np.testing.assert_allclose(problem.grad_scale, np.linalg.norm(grad0), rtol=1e-12)

    x, info = problem.inner_solve(lam, None, tol)
    assert info.converged and info.n_iter > 0
    assert info.residual <= tol
    _, grad = np_value_grad(ref.Z, ref.y, ref.s, alpha, x)
    true_residual = np.linalg.norm(grad) / np.linalg.norm(grad0)
    assert true_residual <= tol * (1 + 1e-6)
    np.testing.assert_allclose(info.residual, true_residual, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("C", C_VALUES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_inner_solution_equals_sklearn(C, fit_intercept, weighted):
    """The inner solution at alpha = 1/C is scikit-learn's LogisticRegression(C)."""
    A, y, A_val, y_val = make_data(seed=8)
    sw = np.random.RandomState(9).uniform(0.5, 2.0, len(y)) if weighted else None
    problem = LogisticProblem(A, y, A_val, y_val, fit_intercept=fit_intercept,
                              sample_weight_train=sw)
    x, info = problem.inner_solve(np.array([-np.log(C)]), None, TIGHT)
    assert info.converged
    model = LogisticRegression(C=C, tol=1e-12, max_iter=1000,
                               solver="newton-cholesky",
                               fit_intercept=fit_intercept).fit(A, y, sample_weight=sw)
    expected = model.coef_.ravel()
    if fit_intercept:
        expected = np.append(expected, model.intercept_)
    np.testing.assert_allclose(x, expected, rtol=0,
                               atol=1e-6 * np.linalg.norm(expected))


def test_float32_rows_are_used_and_agree_with_float64():
    """float32 data stays float32 in the kernels and solves the same problem."""
    A, y, A_val, y_val = make_data(seed=10)
    A32, A_val32 = A.astype(np.float32), A_val.astype(np.float32)
    p32 = LogisticProblem(A32, y, A_val32, y_val)
    p64 = LogisticProblem(A32.astype(np.float64), y, A_val32.astype(np.float64), y_val)
    assert p32.train.rows.is32 and p32.val.rows.is32
    assert not p64.train.rows.is32
    lam = np.array([0.3])
    x32, _ = p32.inner_solve(lam, None, TIGHT)
    x64, _ = p64.inner_solve(lam, None, TIGHT)
    np.testing.assert_allclose(x32, x64, rtol=0, atol=1e-9 * np.linalg.norm(x64))
    np.testing.assert_allclose(hypergradient(p32, lam), hypergradient(p64, lam),
                               rtol=1e-8)


# ----------------------------------------------------------------------
# Hessian solve


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-10])
@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_hessian_solve_meets_relative_tolerance(tol, layout, fit_intercept):
    """||H q - b|| <= tol ||b|| with H built independently in NumPy."""
    A, y, A_val, y_val = make_data(seed=11)
    problem = LogisticProblem(as_layout(A, layout), y, as_layout(A_val, layout),
                              y_val, fit_intercept=fit_intercept)
    ref = Reference(A, y, A_val, y_val, fit_intercept)
    lam = np.array([-np.log(2.0)])
    x, _ = problem.inner_solve(lam, None, 1e-6)
    b = np.random.RandomState(12).randn(problem.n_coef)
    q, info = problem.hessian_solve(x, lam, b, None, tol)
    assert info.converged and info.residual <= tol
    H = np_hessian(ref.Z, ref.s, ref.alpha(lam), x)
    true_residual = np.linalg.norm(H @ q - b) / np.linalg.norm(b)
    assert true_residual <= tol * (1 + 1e-6)
    exact = np.linalg.solve(H, b)
    error_bound = tol * np.linalg.cond(H) * np.linalg.norm(exact) * 1.01
    assert np.linalg.norm(q - exact) <= error_bound


def test_hessian_solve_zero_rhs():
    """b = 0 gives q = 0 at once."""
    A, y, A_val, y_val = make_data(seed=13)
    problem = LogisticProblem(A, y, A_val, y_val)
    lam = np.array([0.0])
    x, _ = problem.inner_solve(lam, None, 1e-6)
    q, info = problem.hessian_solve(x, lam, np.zeros(problem.n_coef), None, 1e-8)
    assert np.all(q == 0) and info.converged


# ----------------------------------------------------------------------
# Warm starts and inputs that must not change


def test_warm_start_makes_inner_solve_cheaper():
    """A solve started at the solution of a nearby lam needs fewer iterations."""
    A, y, A_val, y_val = make_data(seed=14, n=300, p=20)
    lam0, lam1 = np.array([0.0]), np.array([0.1])
    warm = LogisticProblem(A, y, A_val, y_val)
    x0, _ = warm.inner_solve(lam0, None, 1e-10)
    _, info_warm = warm.inner_solve(lam1, x0, 1e-10)
    cold = LogisticProblem(A, y, A_val, y_val)
    _, info_cold = cold.inner_solve(lam1, None, 1e-10)
    assert info_warm.converged and info_cold.converged
    assert info_warm.n_iter < info_cold.n_iter

    # Started at its own solution, the solve has nothing left to do.
    x1, _ = cold.inner_solve(lam1, None, 1e-10)
    _, info_again = cold.inner_solve(lam1, x1, 1e-10)
    assert info_again.n_iter <= 1


def test_warm_start_makes_hessian_solve_cheaper():
    """CG from the previous outer iteration's q needs fewer iterations."""
    A, y, A_val, y_val = make_data(seed=15, n=300, p=20)
    problem = LogisticProblem(A, y, A_val, y_val)
    lam0, lam1 = np.array([0.0]), np.array([0.05])
    x0, _ = problem.inner_solve(lam0, None, 1e-10)
    _, b0, _ = problem.outer_value_grad(x0, lam0)
    q0, _ = problem.hessian_solve(x0, lam0, b0, None, 1e-10)
    x1, _ = problem.inner_solve(lam1, x0, 1e-10)
    _, b1, _ = problem.outer_value_grad(x1, lam1)
    _, info_warm = problem.hessian_solve(x1, lam1, b1, q0, 1e-10)
    _, info_cold = problem.hessian_solve(x1, lam1, b1, None, 1e-10)
    assert info_warm.converged and info_cold.converged
    assert info_warm.n_iter < info_cold.n_iter


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_oracles_do_not_modify_inputs(layout):
    """x0, q0, b, lam and the data are read, never written (the loop keeps them)."""
    A, y, A_val, y_val = make_data(seed=16)
    X, X_val = as_layout(A, layout), as_layout(A_val, layout)
    X_copy, X_val_copy, y_copy = X.copy(), X_val.copy(), y.copy()
    problem = LogisticProblem(X, y, X_val, y_val)
    lam = np.array([0.2])
    lam_copy = lam.copy()
    rng = np.random.RandomState(17)
    x0 = rng.randn(problem.n_coef) * 0.1
    x0_copy = x0.copy()
    x, _ = problem.inner_solve(lam, x0, 1e-8)
    assert np.array_equal(x0, x0_copy) and not np.shares_memory(x, x0)

    _, d1_g, _ = problem.outer_value_grad(x, lam)
    b, q0 = d1_g.copy(), rng.randn(problem.n_coef)
    b_copy, q0_copy, x_copy = b.copy(), q0.copy(), x.copy()
    q, _ = problem.hessian_solve(x, lam, b, q0, 1e-8)
    problem.cross_term(x, lam, q)
    assert np.array_equal(b, b_copy) and np.array_equal(q0, q0_copy)
    assert np.array_equal(x, x_copy) and not np.shares_memory(q, q0)
    assert np.array_equal(lam, lam_copy)

    def same(a, b):
        return (a != b).nnz == 0 if sp.issparse(a) else np.array_equal(a, b)

    assert same(X, X_copy) and same(X_val, X_val_copy) and np.array_equal(y, y_copy)


# ----------------------------------------------------------------------
# k-fold mean criterion


def fold_problems(A, y, fit_intercept, n_folds=3):
    """One LogisticProblem and one NumPy reference per stratified fold."""
    problems, refs = [], []
    for train, val in StratifiedKFold(n_folds).split(A, y):
        problems.append(LogisticProblem(A[train], y[train], A[val], y[val],
                                        fit_intercept=fit_intercept))
        refs.append(Reference(A[train], y[train], A[val], y[val], fit_intercept))
    return problems, refs


@pytest.mark.parametrize("C", C_VALUES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_mean_over_folds_hypergradient(C, fit_intercept):
    """The k-fold hypergradient is the slope of the exact mean held-out loss."""
    A, y, _, _ = make_data(seed=18, n=150)
    problems, refs = fold_problems(A, y, fit_intercept)
    mean = MeanOverFolds(problems)
    lam = np.array([-np.log(C)])

    def f(lam):
        return np.mean([ref.f(lam) for ref in refs])

    x, inner = mean.inner_solve(lam.copy(), None, TIGHT)
    assert inner.converged
    g, d1_g, d2_g = mean.outer_value_grad(x, lam.copy())
    np.testing.assert_allclose(g, f(lam), rtol=1e-10)
    q, linear = mean.hessian_solve(x, lam.copy(), d1_g, None, TIGHT)
    assert linear.converged
    p = np.asarray(d2_g) - mean.cross_term(x, lam.copy(), q)
    fd = finite_difference(f, lam)
    assert abs(fd[0]) > 1e-4
    np.testing.assert_allclose(p, fd, rtol=1e-4, atol=0)


def test_mean_over_folds_reports_total_work_and_worst_residual():
    """Merged SolveInfo: the folds' iterations summed, their worst residual."""
    A, y, _, _ = make_data(seed=19, n=150)
    problems, _ = fold_problems(A, y, True)
    lam = np.array([0.0])
    singles = [LogisticProblem(A[tr], y[tr], A[va], y[va])
               for tr, va in StratifiedKFold(3).split(A, y)]
    infos = [single.inner_solve(lam.copy(), None, 1e-6)[1] for single in singles]
    _, merged = MeanOverFolds(problems).inner_solve(lam.copy(), None, 1e-6)
    assert merged.n_iter == sum(info.n_iter for info in infos)
    assert merged.residual == max(info.residual for info in infos)
    assert merged.converged


# ----------------------------------------------------------------------
# Real data: the breast cancer set (dense) and a slice of 20newsgroups (CSR)


@pytest.fixture(scope="module")
def cancer_split():
    """Standardised breast cancer data in {-1, +1}, a fixed 2:1 split."""
    from hoag.datasets import load_breast_cancer_standardised

    X, y01 = load_breast_cancer_standardised()
    y = np.where(y01 == 1, 1.0, -1.0)
    order = np.random.RandomState(20).permutation(len(y))
    train, val = order[:380], order[380:]
    return X[train], y[train], X[val], y[val]


@pytest.mark.parametrize("C", C_VALUES)
def test_hypergradient_on_real_data(cancer_split, C):
    """On breast cancer the hypergradient is the slope of the exact f(lam)."""
    A, y, A_val, y_val = cancer_split
    problem = LogisticProblem(A, y, A_val, y_val)
    ref = Reference(A, y, A_val, y_val, True)
    lam = np.array([-np.log(C)])
    p = hypergradient(problem, lam)
    fd = finite_difference(ref.f, lam)
    assert abs(fd[0]) > 1e-4, "the slope must be large enough to be measured"
    np.testing.assert_allclose(p, fd, rtol=1e-4, atol=0)


def lbfgs_against_sklearn(A, y, A_val, y_val, C, sklearn_tol=1e-12):
    """(hoag's inner solution, scikit-learn's lbfgs solution) at the same C."""
    problem = LogisticProblem(A, y, A_val, y_val)
    x, info = problem.inner_solve(np.array([-np.log(C)]), None, TIGHT)
    assert info.converged, info
    model = LogisticRegression(C=C, solver="lbfgs", tol=sklearn_tol,
                               max_iter=100_000).fit(A, y)
    return x, np.append(model.coef_.ravel(), model.intercept_)


@pytest.mark.parametrize("C", C_VALUES)
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_lbfgs_equals_sklearn_lbfgs_on_real_data(cancer_split, C, layout):
    """The compiled L-BFGS lands on scikit-learn's lbfgs solution to 1e-6."""
    A, y, A_val, y_val = cancer_split
    x, expected = lbfgs_against_sklearn(as_layout(A, layout), y,
                                        as_layout(A_val, layout), y_val, C)
    np.testing.assert_allclose(x, expected, rtol=0,
                               atol=1e-6 * np.linalg.norm(expected))


@pytest.mark.parametrize("C", [1.0, 10.0])
def test_lbfgs_equals_sklearn_lbfgs_on_news20(news20, C):
    """The same on 2,000 rows of 20newsgroups, CSR with 130,108 columns."""
    X_train, y_train, X_val, y_val, _, _ = news20
    x, expected = lbfgs_against_sklearn(X_train[:2000], y_train[:2000],
                                        X_val[:500], y_val[:500], C,
                                        sklearn_tol=1e-10)
    np.testing.assert_allclose(x, expected, rtol=0,
                               atol=1e-6 * np.linalg.norm(expected))
