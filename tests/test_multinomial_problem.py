"""The oracles of MultinomialProblem against scikit-learn and finite differences.

- The inner solution at one C is scikit-learn's multinomial LogisticRegression
  at that C (same objective up to the factor C).
- The hypergradient with one hyperparameter per pixel of digits (64 of them)
  matches centred finite differences of the validation loss at solutions
  solved to a gradient norm of 1e-12 relative, checked by a NumPy gradient.
- Group structures, the cross term and bad input.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp, softmax
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from hoag import MultinomialProblem
from hoag._cv import MeanOverFolds

TIGHT = 1e-12


@pytest.fixture(scope="module")
def digits_split():
    """Pixels scaled to [0, 1]; 900 training and 450 validation rows, stratified."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, train_size=900, test_size=450, stratify=y, random_state=0)
    return X_train, y_train, X_val, y_val


def np_grad(X, y, K, alpha, x, fit_intercept=True):
    """Gradient of h in NumPy (independent of the compiled kernels)."""
    p = X.shape[1]
    W = x[: p * K].reshape(p, K)
    b = x[p * K:] if fit_intercept else np.zeros(K)
    R = softmax(X @ W + b, axis=1) - np.eye(K)[y]
    g = (X.T @ R).ravel()
    if fit_intercept:
        g = np.append(g, R.sum(axis=0))
    return g + alpha * x


def np_val_loss(X, y, K, x, fit_intercept=True):
    """Mean held-out multinomial log loss in NumPy."""
    p = X.shape[1]
    Z = X @ x[: p * K].reshape(p, K) + (x[p * K:] if fit_intercept else 0.0)
    return float(np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]))


def hypergradient(problem, lam, tol=TIGHT):
    """d2_g - cross_term(x, lam, H^{-1} d1_g) with tight solves."""
    x, inner = problem.inner_solve(lam.copy(), None, tol)
    assert inner.converged, inner
    _, d1_g, d2_g = problem.outer_value_grad(x, lam.copy())
    q, linear = problem.hessian_solve(x, lam.copy(), d1_g, None, tol)
    assert linear.converged, linear
    return np.asarray(d2_g) - problem.cross_term(x, lam.copy(), q), x


@pytest.fixture(scope="module")
def sklearn_fits(digits_split):
    """scikit-learn's multinomial fits at each C, computed once per module."""
    X_train, y_train, _, _ = digits_split
    return {C: LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(
        X_train, y_train) for C in (0.1, 10.0)}


@pytest.mark.parametrize("C", [0.1, 10.0])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_solution_matches_scikit_learn(digits_split, sklearn_fits, C, layout):
    X_train, y_train, X_val, y_val = digits_split
    Xt = sp.csr_matrix(X_train) if layout == "csr" else X_train
    Xv = sp.csr_matrix(X_val) if layout == "csr" else X_val
    problem = MultinomialProblem(Xt, y_train, Xv, y_val, n_classes=10)
    lam = np.array([-np.log(C)])
    x, info = problem.inner_solve(lam, None, 1e-10)
    assert info.converged
    W, b = problem.coefficients(x)

    ref = sklearn_fits[C]
    # scikit-learn stops on its own scaled criterion, short of our solution: ours
    # must be the more exact one, by a gradient computed in NumPy.
    alpha = problem.penalty(lam)
    x_ref = np.append(ref.coef_.T.ravel(), ref.intercept_)
    ours = np.linalg.norm(np_grad(X_train, y_train, 10, alpha, x))
    assert ours <= np.linalg.norm(np_grad(X_train, y_train, 10, alpha, x_ref))
    # The optimal W has zero class sums (the penalty picks the centred one);
    # the intercept is defined up to a constant shift, so compare centred.
    np.testing.assert_allclose(W.sum(axis=1), 0.0, atol=1e-8)
    scale = max(np.max(np.abs(ref.coef_)), np.max(np.abs(ref.intercept_)))
    np.testing.assert_allclose(W.T, ref.coef_, atol=1e-4 * scale)
    np.testing.assert_allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(),
                               atol=1e-4 * scale)

    g, _, d2_g = problem.outer_value_grad(x, lam)
    expected = np.mean(-ref.predict_log_proba(X_val)[np.arange(len(y_val)), y_val])
    assert g == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(d2_g, 0.0)


def test_hypergradient_64_pixels_matches_finite_differences(digits_split):
    X_train, y_train, X_val, y_val = digits_split
    p, K = X_train.shape[1], 10
    problem = MultinomialProblem(X_train, y_train, X_val, y_val, n_classes=K,
                                 groups=np.arange(p))
    assert problem.n_hyperparams == 64
    rng = np.random.default_rng(0)
    lam = rng.uniform(-2.0, 1.0, size=p)
    grad, x = hypergradient(problem, lam)
    # the solution is exact by an independent NumPy gradient
    alpha = problem.penalty(lam)
    scale = np.linalg.norm(np_grad(X_train, y_train, K, alpha * 0, np.zeros(x.size)))
    assert np.linalg.norm(np_grad(X_train, y_train, K, alpha, x)) <= 1e-10 * scale

    def f(point):
        x_exact, info = problem.inner_solve(point, x, TIGHT)
        assert info.converged
        return np_val_loss(X_val, y_val, K, x_exact)

    # Directional derivatives: random directions and the largest coordinates.
    step = 1e-4
    directions = [rng.standard_normal(p) for _ in range(3)]
    for j in np.argsort(-np.abs(grad))[:3]:
        directions.append(np.eye(p)[j])
    for d in directions:
        fd = (f(lam + step * d) - f(lam - step * d)) / (2 * step)
        assert grad @ d == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("structure", ["one", "coefficients", "pairs"])
def test_hypergradient_other_structures(digits_split, structure):
    X_train, y_train, X_val, y_val = digits_split
    X_train, y_train = X_train[:300], y_train[:300]
    p, K = X_train.shape[1], 10
    groups = {"one": None,
              "coefficients": np.arange(p * K).reshape(p, K),
              "pairs": np.arange(p) // 2}[structure]
    problem = MultinomialProblem(X_train, y_train, X_val, y_val, n_classes=K,
                                 groups=groups, fit_intercept=structure != "pairs")
    m = problem.n_hyperparams
    assert m == {"one": 1, "coefficients": 640, "pairs": 32}[structure]
    rng = np.random.default_rng(1)
    lam = rng.uniform(-1.0, 1.0, size=m)
    grad, x = hypergradient(problem, lam)

    def f(point):
        x_exact, _ = problem.inner_solve(point, x, TIGHT)
        return np_val_loss(X_val, y_val, K, x_exact, problem.fit_intercept)

    # Fourth-order stencil with a step of 1e-3: the solves' errors (about 1e-11
    # relative in x) divided by a step of 1e-4 were 1e-5 of the small slope
    # along d in the "pairs" structure (8e-5).
    d = rng.standard_normal(m)
    step = 1e-3
    fd = (-f(lam + 2 * step * d) + 8 * f(lam + step * d)
          - 8 * f(lam - step * d) + f(lam - 2 * step * d)) / (12 * step)
    assert grad @ d == pytest.approx(fd, rel=1e-5)


def test_cross_term_and_penalty_layout():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), np.arange(20) % 4
    problem = MultinomialProblem(X, y, X, y, groups=np.array([1, 0, 1]))
    lam = np.array([0.5, -1.0])
    alpha = problem.penalty(lam)
    expected = np.concatenate([np.full(4, np.exp(-1.0)), np.full(4, np.exp(0.5)),
                               np.full(4, np.exp(-1.0)), np.zeros(4)])
    np.testing.assert_allclose(alpha, expected)
    x, q = rng.standard_normal(16), rng.standard_normal(16)
    W, Q = x[:12].reshape(3, 4), q[:12].reshape(3, 4)
    a = np.exp(lam)
    by_hand = [a[0] * np.sum(W[1] * Q[1]),
               a[1] * (np.sum(W[0] * Q[0]) + np.sum(W[2] * Q[2]))]
    np.testing.assert_allclose(problem.cross_term(x, lam, q), by_hand)


def test_mean_over_folds_of_multinomial_problems(digits_split):
    X_train, y_train, X_val, y_val = digits_split
    folds = [MultinomialProblem(X_train[:450], y_train[:450], X_val, y_val),
             MultinomialProblem(X_train[450:], y_train[450:], X_val, y_val)]
    criterion = MeanOverFolds(folds)
    lam = np.array([0.3])
    x, _ = criterion.inner_solve(lam, None, TIGHT)
    g, _, _ = criterion.outer_value_grad(x, lam)
    each = [fold.outer_value_grad(fold.inner_solve(lam, None, TIGHT)[0], lam)[0]
            for fold in folds]
    assert g == pytest.approx(np.mean(each), rel=1e-10)


def test_bad_input():
    X, y = np.ones((6, 2)), np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"class\(es\) \[3\] have no training"):
        MultinomialProblem(X, y, X, y, n_classes=4)
    with pytest.raises(ValueError, match="groups must be an integer array"):
        MultinomialProblem(X, y, X, y, groups=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="groups must be an integer array"):
        MultinomialProblem(X, y, X, y, groups=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-negative"):
        MultinomialProblem(X, y, X, y, groups=np.array([0, -1]))
    with pytest.raises(ValueError, match="features"):
        MultinomialProblem(X, y, np.ones((6, 3)), y)
    with pytest.raises(ValueError, match=r"X_val: .*0 sample\(s\)"):
        MultinomialProblem(X, y, X[:0], y[:0])
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        MultinomialProblem(X, y, X, np.array([0, 1, 2, 0, 1, 5]))
