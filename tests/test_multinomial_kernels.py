"""The compiled softmax kernels against a plain NumPy/SciPy transcription.

The reference (``tests/_reference.py``) computes, in float64, with ``W`` of
shape (p, K), ``b`` of length K and ``Z = A W + b``::

    h(x)   = sum_i s_i (logsumexp(Z_i) - Z_{i, y_i}) + 1/2 sum alpha * x^2
    grad h = (A^T R, 1^T R) + alpha x,   R = s * (softmax(Z) - onehot(y))
    H v    = (A^T M, 1^T M) + alpha v,   M_i = s_i (diag(P_i) - P_i P_i^T) U_i

with ``U = A V + c`` for ``v = (V.ravel(), c)``. Every kernel of
``hoag._core.Multinomial`` is compared with it over layouts, dtypes, weights,
intercepts, thread counts and real data, then with finite differences.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.datasets import load_digits

from hoag._core import Multinomial, cg, lbfgs

from _reference import MultinomialReference as Reference, assert_close

LAYOUTS = ["dense", "csr"]


def make_problem(seed, layout, dtype):
    """A random problem with empty rows: X, X64, labels, weights, x, v, alpha, K."""
    rng = np.random.default_rng(seed)
    n, p, K = int(rng.integers(5, 80)), int(rng.integers(1, 30)), int(
        rng.integers(2, 7))
    X64 = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.4)
    X64[0] = 0.0
    y = rng.integers(0, K, size=n)
    sw = rng.uniform(0.0, 3.0, size=n)
    sw[rng.integers(n)] = 0.0
    x = rng.standard_normal((p + 1) * K)
    v = rng.standard_normal((p + 1) * K)
    alpha = rng.uniform(0.1, 2.0, size=(p + 1) * K)
    X = X64.astype(dtype)
    X64 = X.astype(np.float64)  # the reference sees the rounded values
    if layout == "csr":
        X, X64 = sp.csr_matrix(X), sp.csr_matrix(X64)
    return X, X64, y, sw, x, v, alpha, K


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernels_match_reference(seed, layout, dtype, fit_intercept, weighted):
    X, X64, y, sw, x, v, alpha, K = make_problem(seed, layout, dtype)
    p = X.shape[1]
    if not fit_intercept:
        x, v, alpha = x[: p * K], v[: p * K], alpha[: p * K]
    weights = sw if weighted else None
    obj = Multinomial(X, y, n_classes=K, sample_weight=weights,
                      fit_intercept=fit_intercept)
    obj.alpha = alpha
    ref = Reference(X64, y, K, alpha, weights, fit_intercept)
    assert obj.n == x.size

    f, g = obj.value_grad(x)
    assert_close(f, ref.loss(x), 1e-12)
    assert_close(g, ref.grad(x), 1e-12)
    assert_close(obj.residuals, ref.residuals(x), 1e-12)
    obj.set_hessian_point(x)
    assert_close(obj.probabilities, softmax(ref.scores(x), axis=1), 1e-12)
    assert_close(obj.apply(v), ref.hvp(x, v), 1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_finite_differences(layout, fit_intercept):
    X, _, y, sw, x, v, alpha, K = make_problem(7, layout, np.float64)
    p = X.shape[1]
    if not fit_intercept:
        x, v, alpha = x[: p * K], v[: p * K], alpha[: p * K]
    obj = Multinomial(X, y, n_classes=K, sample_weight=sw,
                      fit_intercept=fit_intercept)
    obj.alpha = alpha
    step = 1e-6
    _, g = obj.value_grad(x)
    fd = (obj.value_grad(x + step * v)[0] - obj.value_grad(x - step * v)[0]) / (
        2 * step)
    assert fd == pytest.approx(g @ v, rel=1e-6)

    obj.set_hessian_point(x)
    Hv = obj.apply(v)
    g_plus = obj.value_grad(x + step * v)[1].copy()
    g_minus = obj.value_grad(x - step * v)[1].copy()
    assert_close(Hv, (g_plus - g_minus) / (2 * step), 1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_huge_scores_stay_finite(layout):
    # exp(1e4) overflows: the max-shifted log-sum-exp must not.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    X = sp.csr_matrix(X) if layout == "csr" else X
    y = np.array([0, 1, 2])
    obj = Multinomial(X, y, n_classes=3, fit_intercept=False)
    x = np.array([1e4, -1e4, 0.0, 0.0, 1e4, -1e4])
    ref = Reference(X, y, 3, 0.0, fit_intercept=False)
    f, g = obj.value_grad(x)
    assert np.isfinite(f) and f == pytest.approx(ref.loss(x), rel=1e-12)
    assert_close(g, ref.grad(x), 1e-12)
    obj.set_hessian_point(x)
    assert np.all(np.isfinite(obj.apply(np.ones(6))))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_agree(layout, dtype):
    X, _, y, sw, x, v, alpha, K = make_problem(3, layout, dtype)
    results = []
    for n_threads in (1, 2):
        obj = Multinomial(X, y, n_classes=K, sample_weight=sw, n_threads=n_threads)
        obj.alpha = alpha
        f, g = obj.value_grad(x)
        obj.set_hessian_point(x)
        results.append((f, g.copy(), obj.apply(v)))
    (f1, g1, h1), (f2, g2, h2) = results
    assert f1 == pytest.approx(f2, rel=1e-13)
    assert_close(g1, g2, 1e-13)
    assert_close(h1, h2, 1e-13)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_digits(layout, dtype):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)
    X = sp.csr_matrix(X) if layout == "csr" else X
    rng = np.random.default_rng(0)
    K, p = 10, 64
    x = 0.1 * rng.standard_normal((p + 1) * K)
    v = rng.standard_normal((p + 1) * K)
    alpha = np.repeat(rng.uniform(0.01, 1.0, size=p + 1), K)
    obj = Multinomial(X, y, n_classes=K, n_threads=2)
    obj.alpha = alpha
    ref = Reference(X.astype(np.float64), y, K, alpha)
    f, g = obj.value_grad(x)
    assert_close(f, ref.loss(x), 1e-12)
    assert_close(g, ref.grad(x), 1e-12)
    obj.set_hessian_point(x)
    assert_close(obj.apply(v), ref.hvp(x, v), 1e-12)


def test_lbfgs_and_cg_serve_the_softmax_objective():
    # The unchanged solvers: L-BFGS to a tight gradient, then CG on H q = b
    # checked against a dense solve of the reference Hessian.
    X, _, y, sw, _, _, alpha, K = make_problem(11, "dense", np.float64)
    obj = Multinomial(X, y, n_classes=K, sample_weight=sw, fit_intercept=False)
    p = X.shape[1]
    obj.alpha = alpha[: p * K]
    x = np.zeros(p * K)
    _, gnorm, _, _, status = lbfgs(obj, x, 1e-10)
    assert status == 0 and gnorm <= 1e-10

    ref = Reference(X, y, K, alpha[: p * K], sw, fit_intercept=False)
    assert np.linalg.norm(ref.grad(x)) <= 1e-9
    H = np.column_stack([ref.hvp(x, e) for e in np.eye(p * K)])
    b = np.random.default_rng(0).standard_normal(p * K)
    obj.set_hessian_point(x)
    q = np.zeros(p * K)
    _, _, status = cg(obj, b, q, 1e-12 * np.linalg.norm(b))
    assert status == 0
    assert_close(q, np.linalg.solve(H, b), 1e-9)


def test_alpha_shapes_and_intercept_entries():
    X = np.ones((3, 2))
    obj = Multinomial(X, [0, 1, 2])
    assert obj.n_classes == 3 and obj.n == 9
    obj.alpha = 2.0
    np.testing.assert_array_equal(obj.alpha, [2.0] * 6 + [0.0] * 3)
    obj.alpha = np.array([[1.0], [3.0], [5.0]])  # one per feature row
    np.testing.assert_array_equal(obj.alpha, [1.0] * 3 + [3.0] * 3 + [0.0] * 3)
    given = np.arange(9.0)
    obj.alpha = given
    np.testing.assert_array_equal(obj.alpha, [0, 1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(given, np.arange(9.0))  # not modified
    with pytest.raises(ValueError, match="alpha of shape"):
        obj.alpha = np.ones(4)


def test_bad_input():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="class indices"):
        Multinomial(X, [0, 1, 3], n_classes=3)
    with pytest.raises(ValueError, match="integer class indices"):
        Multinomial(X, [0, 1.5, 1])
    with pytest.raises(ValueError, match="class indices"):
        Multinomial(X, [0, -1, 1])
    with pytest.raises(ValueError, match="at least 2"):
        Multinomial(X, [0, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        Multinomial(X, [0, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        Multinomial(X, [0, 1, 1], sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(TypeError, match="float32 or float64"):
        Multinomial(np.ones((3, 2), dtype=int), [0, 1, 1])
