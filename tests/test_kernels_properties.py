"""Property-based tests (hypothesis) of every kernel of ``hoag._core``.

Random shapes down to one row and one feature, rows and columns of zeros
(empty rows and columns in CSR), values up to 1e3 in magnitude with margins far
beyond where ``exp`` overflows, zero sample weights, float32 and float64, dense
and CSR with int32 or int64 indices, one and two threads. Every output is held
against the NumPy/SciPy transcriptions of ``tests/_reference.py`` (or a dense
formula) within a bound derived from float64 rounding:

    |computed - reference| <= 1e-12 |reference| + SAFETY * bound

where ``bound`` propagates the rounding of the margins, ``4 (p + 2) eps sum_j
|a_ij x_j|``, through the derivative of each output (e.g. ``|d r_i / d z_i| =
d_i``), and adds ``2 (n + 2) eps`` times the sum of absolute values of the terms
of every accumulation. The reference sees the float32 data after rounding, so
both dtypes are held to float64 accuracy: all accumulation is float64 in the
kernels. The same bound (pure reassociation) separates one thread from two.
Solvers are checked on small problems against ``np.linalg.solve`` and
``scipy.optimize.minimize`` at tight tolerance.
"""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import softmax

from hoag import _core

from _reference import LogisticReference, MultinomialReference

EPS = np.finfo(np.float64).eps
SAFETY = 8.0
THREADS = (1, 2)

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def assert_within(actual, desired, bound, what):
    """|actual - desired| <= 1e-12 |desired| + SAFETY * bound, elementwise."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, what
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values"
    err = np.abs(actual - desired)
    allowed = 1e-12 * np.abs(desired) + SAFETY * np.asarray(bound) + 1e-300
    worst = np.argmax(err - allowed) if err.ndim else ()
    assert np.all(err <= allowed), (
        f"{what}: error {np.ravel(err)[worst] if err.ndim else err:.3e} above "
        f"{np.ravel(allowed)[worst] if err.ndim else allowed:.3e}")


# --------------------------------------------------------------------------- #
# Strategies


def _values(scale, width):
    """Floats in [-scale, scale] (exactly representable at ``width`` bits) or 0."""
    return st.one_of(
        st.just(0.0),
        st.floats(-scale, scale, allow_nan=False, allow_infinity=False,
                  allow_subnormal=False, width=width))


@st.composite
def designs(draw, max_n=10, max_p=6, scales=(1.0, 1e3)):
    """(X passed to the kernel, X64 dense float64 of the same values, layout).

    Zero rows and zero columns are drawn explicitly; in CSR they are empty
    rows and columns. Layout is "dense", "csr32" or "csr64" (index dtype).
    """
    n = draw(st.integers(1, max_n))
    p = draw(st.integers(1, max_p))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from(scales))
    width = 32 if dtype == np.float32 else 64
    X64 = draw(hnp.arrays(np.float64, (n, p), elements=_values(scale, width)))
    X64[draw(hnp.arrays(bool, n))] = 0.0
    X64[:, draw(hnp.arrays(bool, p))] = 0.0
    layout = draw(st.sampled_from(["dense", "csr32", "csr64"]))
    X = X64.astype(dtype)
    assert np.array_equal(X.astype(np.float64), X64)
    if layout != "dense":
        X = sp.csr_matrix(X)
        if layout == "csr64":
            X.indices = X.indices.astype(np.int64)
            X.indptr = X.indptr.astype(np.int64)
    return X, X64, layout


def vectors(size, scale):
    return hnp.arrays(np.float64, size, elements=_values(scale, 64))


def weights(n):
    """None, or non-negative weights with zeros among them."""
    return st.one_of(st.none(), hnp.arrays(
        np.float64, n, elements=st.one_of(st.just(0.0), st.floats(0.0, 5.0))))


def _with_ones(X64, fit_intercept):
    """|A| with the intercept's column of ones appended."""
    A = np.abs(X64)
    return np.hstack([A, np.ones((A.shape[0], 1))]) if fit_intercept else A


# --------------------------------------------------------------------------- #
# Binary logistic


def check_on_threads(make, alpha, x, v, outputs, expected):
    """Each output on 1 and 2 threads within its bound of the reference and of
    each other; ``make(n_threads)`` builds the objective."""
    results = []
    for nt in THREADS:
        obj = make(nt)
        obj.alpha = alpha
        out = outputs(obj, x, v)
        for name, (desired, bound) in expected.items():
            assert_within(out[name], desired, bound, f"{name}, {nt} thread(s)")
        results.append(out)
    for name, (_, bound) in expected.items():
        assert_within(results[1][name], results[0][name], bound,
                      f"{name}: 2 threads against 1")


def logistic_outputs(obj, x, v):
    f, g = obj.value_grad(x)
    r = obj.residuals.copy()
    obj.set_hessian_point(x)
    return {"loss": f, "grad": g, "residuals": r, "curvature": obj.curvature.copy(),
            "hvp": obj.apply(v), "hessian_diagonal": obj.hessian_diagonal()}


def logistic_bounds(X64, y, s, alpha, fit_intercept, x, v):
    """Reference outputs and the rounding bound of each (see the module doc)."""
    ref = LogisticReference(X64, y, alpha, s, fit_intercept)
    n, p = X64.shape
    s = np.ones(n) if s is None else s
    A = _with_ones(X64, fit_intercept)
    acc = 2 * (n + 2) * EPS
    z_err = 4 * (p + 2) * EPS * (A @ np.abs(x))
    r, d = ref.residuals(x), ref.curvature(x)
    dr = d * z_err + 10 * EPS * np.abs(r)
    dd = d * z_err + 10 * EPS * d
    u_abs = A @ np.abs(v)
    du = 4 * (p + 2) * EPS * u_abs
    dt = dd * u_abs + d * du + 2 * EPS * d * u_abs
    yz = y * ref.margins(x)
    ax2, av = np.abs(ref.alpha * x * x), np.abs(ref.alpha * v)
    expected = {
        "loss": (ref.loss(x), np.sum(np.abs(r) * z_err)
                 + acc * (np.sum(s * (np.abs(yz) + 1.0)) + ax2.sum())),
        "grad": (ref.grad(x), A.T @ dr + acc * (A.T @ np.abs(r)
                                                + np.abs(ref.alpha * x))),
        "residuals": (r, dr),
        "curvature": (d, dd),
        "hvp": (ref.hvp(x, v), A.T @ dt + acc * (A.T @ (d * u_abs) + av)),
        "hessian_diagonal": (ref.hessian_diagonal(x),
                             (A * A).T @ dd + acc * ((A * A).T @ d + ref.alpha)),
    }
    return expected


@SETTINGS
@given(data=st.data(), design=designs(), fit_intercept=st.booleans(),
       x_scale=st.sampled_from([1e-3, 1.0, 10.0]))
def test_binary_logistic_matches_reference(data, design, fit_intercept, x_scale):
    X, X64, _ = design
    n, p = X64.shape
    m = p + fit_intercept
    y = data.draw(hnp.arrays(np.float64, n, elements=st.sampled_from([-1.0, 1.0])))
    s = data.draw(weights(n))
    x = data.draw(vectors(m, x_scale))
    v = data.draw(vectors(m, 1.0))
    alpha = np.abs(data.draw(vectors(m, 10.0)))

    expected = logistic_bounds(X64, y, s, alpha, fit_intercept, x, v)
    def make(nt):
        return _core.BinaryLogistic(X, y, sample_weight=s,
                                    fit_intercept=fit_intercept, n_threads=nt)

    check_on_threads(make, alpha, x, v, logistic_outputs, expected)


@SETTINGS
@given(n=st.integers(1, 6), p=st.integers(1, 4),
       margin=st.floats(40.0, 1e6), sign=st.sampled_from([-1.0, 1.0]),
       dtype=st.sampled_from([np.float64, np.float32]),
       layout=st.sampled_from(["dense", "csr"]))
def test_logistic_log1p_exp_path_is_stable_at_huge_margins(n, p, margin, sign,
                                                          dtype, layout):
    # Every row has margin y z = sign * margin: past exp's overflow (709) for
    # margin > 709 when computed naively as log(1 + exp(-yz)).
    X = np.ones((n, p), dtype=dtype)
    y = np.ones(n)
    x = np.full(p, sign * margin / p)
    obj = _core.BinaryLogistic(sp.csr_matrix(X) if layout == "csr" else X, y,
                               fit_intercept=False, n_threads=1)
    f, g = obj.value_grad(x)
    yz = float(np.ones(p, dtype=dtype).astype(np.float64) @ x)
    if sign > 0:
        # log(1 + e^-yz) = e^-yz (1 + O(e^-yz)); gradient -e^-yz / (1 + e^-yz)
        np.testing.assert_allclose(f, n * np.exp(-yz), rtol=1e-12, atol=1e-300)
        assert np.all(g <= 0) and np.all(np.isfinite(g))
    else:
        # log(1 + e^|yz|) = |yz| + log1p(e^-|yz|); gradient -1 per row and feature
        np.testing.assert_allclose(f, n * (-yz + np.log1p(np.exp(yz))), rtol=1e-14)
        np.testing.assert_allclose(g, np.full(p, -n), rtol=1e-14)
    obj.set_hessian_point(x)
    d = obj.curvature
    np.testing.assert_allclose(d, np.exp(-abs(yz)) / (1 + np.exp(-abs(yz))) ** 2,
                               rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------- #
# Multinomial


def multinomial_outputs(obj, x, v):
    f, g = obj.value_grad(x)
    R = obj.residuals.copy()
    obj.set_hessian_point(x)
    return {"loss": f, "grad": g, "residuals": R,
            "probabilities": obj.probabilities.copy(), "hvp": obj.apply(v)}


def multinomial_bounds(X64, y, K, s, alpha, fit_intercept, x, v):
    ref = MultinomialReference(X64, y, K, alpha, s, fit_intercept)
    n, p = X64.shape
    s = np.ones(n) if s is None else s
    A = _with_ones(X64, fit_intercept)
    acc = 2 * (n + K + 2) * EPS
    rows = p + fit_intercept
    Z = ref.scores(x)
    z_abs = A @ np.abs(x.reshape(rows, K))
    z_err = 8 * (p + K + 2) * EPS * z_abs.max(axis=1)
    P = softmax(Z, axis=1)
    dP = P * (2 * z_err + 10 * K * EPS)[:, None]
    R = ref.residuals(x)
    dR = s[:, None] * dP + 10 * EPS * np.abs(R)
    u_max = (A @ np.abs(v.reshape(rows, K))).max(axis=1)
    du = 4 * (p + 2) * EPS * u_max
    dM = s[:, None] * P * (6 * z_err * u_max + 2 * du
                           + 10 * (K + 1) * EPS * u_max)[:, None]
    M_abs = s[:, None] * P * 2 * u_max[:, None]
    lse = np.log(np.sum(np.exp(Z - Z.max(axis=1, keepdims=True)), axis=1)) + Z.max(
        axis=1)
    ax, av = np.abs(ref.alpha * x), np.abs(ref.alpha * v)
    return {
        "loss": (ref.loss(x), np.sum(s * 2 * z_err)
                 + acc * (np.sum(s * (np.abs(lse) + z_abs.max(axis=1)))
                          + np.sum(ax * np.abs(x)))),
        "grad": (ref.grad(x), (A.T @ dR).ravel()
                 + acc * ((A.T @ np.abs(R)).ravel() + ax)),
        "residuals": (R, dR),
        "probabilities": (P, dP),
        "hvp": (ref.hvp(x, v), (A.T @ dM).ravel() + acc * ((A.T @ M_abs).ravel()
                                                           + av)),
    }


@SETTINGS
@given(data=st.data(), design=designs(max_n=8, max_p=4),
       fit_intercept=st.booleans(), K=st.integers(2, 4),
       x_scale=st.sampled_from([1e-3, 1.0, 10.0]))
def test_multinomial_matches_reference(data, design, fit_intercept, K, x_scale):
    X, X64, _ = design
    n, p = X64.shape
    m = (p + fit_intercept) * K
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, K - 1)))
    s = data.draw(weights(n))
    x = data.draw(vectors(m, x_scale))
    v = data.draw(vectors(m, 1.0))
    alpha = np.abs(data.draw(vectors(m, 10.0)))

    expected = multinomial_bounds(X64, y, K, s, alpha, fit_intercept, x, v)
    def make(nt):
        return _core.Multinomial(X, y, n_classes=K, sample_weight=s,
                                 fit_intercept=fit_intercept, n_threads=nt)

    check_on_threads(make, alpha, x, v, multinomial_outputs, expected)


# --------------------------------------------------------------------------- #
# Solvers: L-BFGS and CG on small strongly convex problems


@st.composite
def small_problems(draw):
    """A logistic or softmax objective with every coefficient penalised."""
    X, X64, _ = draw(designs(max_n=10, max_p=5, scales=(1.0, 10.0)))
    n, p = X64.shape
    kind = draw(st.sampled_from(["binary", "multinomial"]))
    s = draw(st.one_of(st.none(), hnp.arrays(np.float64, n,
                                             elements=st.floats(0.1, 3.0))))
    nt = draw(st.sampled_from(THREADS))
    if kind == "binary":
        y = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([-1.0, 1.0])))
        obj = _core.BinaryLogistic(X, y, sample_weight=s, fit_intercept=False,
                                   n_threads=nt)
        ref = LogisticReference(X64, y, 0.0, s, fit_intercept=False)
    else:
        K = draw(st.integers(2, 3))
        y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, K - 1)))
        obj = _core.Multinomial(X, y, n_classes=K, sample_weight=s,
                                fit_intercept=False, n_threads=nt)
        ref = MultinomialReference(X64, y, K, 0.0, s, fit_intercept=False)
    alpha = draw(hnp.arrays(np.float64, obj.n, elements=st.floats(0.05, 5.0)))
    obj.alpha = alpha
    ref.alpha = alpha.copy()
    return obj, ref


@settings(SETTINGS, max_examples=30)
@given(problem=small_problems(), rel_tol=st.sampled_from([1e-6, 1e-9]))
def test_lbfgs_reaches_the_minimiser(problem, rel_tol):
    obj, ref = problem
    x0 = np.zeros(obj.n)
    tol = rel_tol * max(np.linalg.norm(ref.grad(x0)), 1e-3)
    x = x0.copy()
    f, gnorm, _, _, status = _core.lbfgs(obj, x, tol, max_iter=2000)

    assert status == 0, _core.STATUS_MESSAGES[status]
    g_ref = ref.grad(x)
    assert np.linalg.norm(g_ref) <= tol * (1 + 1e-6) + 1e-12
    np.testing.assert_allclose(f, ref.loss(x), rtol=1e-12, atol=1e-300)
    # the reported norm, up to the rounding of gradient terms of size ~ g(0)
    np.testing.assert_allclose(gnorm, np.linalg.norm(g_ref), rtol=1e-6,
                               atol=1e3 * EPS * np.abs(ref.grad(x0)).sum())

    # Strong convexity (modulus min alpha) puts the minimiser within
    # ||grad|| / min(alpha) of any point; SciPy's exact-Hessian trust region
    # from the same start at a tighter tolerance must land in the same ball.
    def hess(z):
        return np.column_stack([ref.hvp(z, e) for e in np.eye(obj.n)])

    opt = scipy.optimize.minimize(ref.loss, x0, jac=ref.grad, hess=hess,
                                  method="trust-exact", options={"gtol": 1e-12})
    g_opt = np.linalg.norm(ref.grad(opt.x))
    radius = (np.linalg.norm(g_ref) + g_opt) / ref.alpha.min()
    assert np.linalg.norm(x - opt.x) <= radius * (1 + 1e-6) + 1e-12


def test_lbfgs_goes_on_when_the_decrease_drowns_in_rounding():
    # Found by the test above: f(0) = log 2 and the minimiser at -8e-8 lowers f
    # by 2e-16, below its rounding. The line search used to read the rounded
    # "no decrease" at t = 1 as a step too long and failed; phi' < c2 phi'(0)
    # there says the step is too short, and the search now extends it.
    obj = _core.BinaryLogistic(np.array([[1e-8]]), np.array([-1.0]),
                               fit_intercept=False, n_threads=1)
    obj.alpha = 0.0625
    x = np.zeros(1)
    _, gnorm, _, _, status = _core.lbfgs(obj, x, 1e-9)
    assert status == 0, _core.STATUS_MESSAGES[status]
    # minimiser of log(1 + exp(1e-8 x)) + x^2 / 32: x = -8e-8 (1 + O(1e-15))
    np.testing.assert_allclose(x, [-8e-8], rtol=1e-6)
    assert gnorm <= 1e-9


@SETTINGS
@given(problem=small_problems(), data=st.data(),
       preconditioner=st.sampled_from([None, "jacobi"]))
def test_cg_solves_the_hessian_system(problem, data, preconditioner):
    obj, ref = problem
    n = obj.n
    x = data.draw(vectors(n, 1.0))
    b = data.draw(vectors(n, 1.0))
    assume(np.linalg.norm(b) > 0)
    H = np.column_stack([ref.hvp(x, e) for e in np.eye(n)])
    obj.set_hessian_point(x)
    prec = None
    if preconditioner == "jacobi":
        prec = 1.0 / np.diag(H)
    tol = 1e-8 * np.linalg.norm(b)
    q = np.zeros(n)
    n_iter, res, status = _core.cg(obj, b, q, tol, max_iter=20 * n + 50,
                                   preconditioner=prec)

    assert status == 0, _core.STATUS_MESSAGES[status]
    true_res = np.linalg.norm(b - H @ q)
    floor = 1e3 * EPS * (np.abs(H).sum() * np.abs(q).max() + np.abs(b).sum())
    assert true_res <= tol + floor
    assert abs(res - true_res) <= floor
    # ||q - q*|| <= ||H^{-1}|| ||b - H q||
    q_exact = np.linalg.solve(H, b)
    lam_min = np.linalg.eigvalsh(H).min()
    assert np.linalg.norm(q - q_exact) <= (tol + floor) / lam_min * (1 + 1e-6)


@SETTINGS
@given(problem=small_problems(), factor=st.floats(0.2, 5.0))
def test_lbfgs_memory_after_a_penalty_shift_still_converges(problem, factor):
    # The pairs of one solve, shifted to a new penalty, warm-start the next.
    obj, ref = problem
    memory = _core.LBFGSMemory(obj.n, m=5)
    x = np.zeros(obj.n)
    _core.lbfgs(obj, x, 1e-6, max_iter=2000, memory=memory)
    old = obj.alpha.copy()
    obj.alpha = old * factor
    ref.alpha = old * factor
    memory.shift_penalty(old * factor - old)
    assert memory.n_pairs <= 5
    tol = 1e-9 * max(np.linalg.norm(ref.grad(x)), 1e-3)
    _, _, _, _, status = _core.lbfgs(obj, x, tol, max_iter=2000, memory=memory)
    assert status == 0, _core.STATUS_MESSAGES[status]
    assert np.linalg.norm(ref.grad(x)) <= tol * (1 + 1e-6) + 1e-12


# --------------------------------------------------------------------------- #
# RBF blocks and products


@st.composite
def point_sets(draw):
    """X (n, p) and Y (m, p) in one dtype, with duplicated and zero rows.

    Column counts cross the 512-wide tile and row counts the 16-row task.
    """
    n = draw(st.sampled_from([1, 2, 15, 17, 33]))
    m = draw(st.sampled_from([1, 3, 16, 511, 513, 1030]))
    p = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = (rng.standard_normal((n, p)) * scale).astype(dtype)
    Y = (rng.standard_normal((m, p)) * scale).astype(dtype)
    X[rng.random(n) < 0.2] = 0.0
    Y[rng.random(m) < 0.2] = 0.0
    k = min(n, m)
    Y[:k // 2] = X[:k // 2]  # exact duplicates: D2 = 0, K = 1
    gamma = draw(st.sampled_from([1e-6, 1e-2, 1.0, 30.0])) / scale**2
    v = rng.standard_normal(m)
    return X, Y, gamma, v


def _sqdist(X, Y):
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    return np.sum((X[:, None, :] - Y[None, :, :]) ** 2, axis=2)


@SETTINGS
@given(sets=point_sets(), nt=st.sampled_from(THREADS))
def test_rbf_blocks_and_products_match_dense_formulas(sets, nt):
    X, Y, gamma, v = sets
    p, m = X.shape[1], Y.shape[0]
    D2 = _sqdist(X, Y)
    K = np.exp(-gamma * D2)
    # all terms of D2 are non-negative: a relative bound per entry
    dD2 = 4 * (p + 2) * EPS * D2
    dK = K * (gamma * dD2 + 4 * EPS)
    acc = 2 * (m + 2) * EPS
    av = np.abs(v)

    assert_within(_core.squared_distances(X, Y, n_threads=nt), D2, dD2, "D2")
    assert_within(_core.rbf_kernel(X, Y, gamma=gamma, n_threads=nt), K, dK, "K")
    assert_within(_core.rbf_from_sqdist(D2, gamma, n_threads=nt), K, 4 * EPS * K,
                  "K from D2")
    kv, dkv = _core.rbf_products(X, Y, gamma, v, n_threads=nt)
    assert_within(kv, K @ v, dK @ av + acc * (K @ av), "K v")
    dk_bound = (dD2 * K + D2 * dK) @ av + acc * ((D2 * K) @ av)
    assert_within(dkv, (D2 * K) @ v, dk_bound, "(D2 * K) v")
    kv_only, none = _core.rbf_products(X, Y, gamma, v, dk=False, n_threads=nt)
    assert none is None
    np.testing.assert_array_equal(kv_only, kv)
    assert_within(_core.hadamard_matvec(D2, K, v, n_threads=nt), (D2 * K) @ v,
                  acc * ((D2 * K) @ av), "hadamard")
    assert_within(_core.d2k_matvec(K, X, Y, v, n_threads=nt), (D2 * K) @ v,
                  (dD2 * K) @ av + acc * ((D2 * K) @ av), "d2k")


@SETTINGS
@given(sets=point_sets(), mu=st.sampled_from([1e-6, 1e-2, 1.0, 100.0]))
def test_kernel_ridge_operator_stored_and_matrix_free(sets, mu):
    X, _, gamma, _ = sets
    n = X.shape[0]
    v = np.random.default_rng(n).standard_normal(n)
    D2 = _sqdist(X, X)
    K = np.exp(-gamma * D2)
    dK = K * (gamma * 4 * (X.shape[1] + 2) * EPS * D2 + 4 * EPS)
    acc = 2 * (n + 2) * EPS
    desired = K @ v + mu * v
    bound = acc * (K @ np.abs(v) + mu * np.abs(v))
    out = {}
    for nt in THREADS:
        stored = _core.KernelRidgeOperator(X, gamma, mu, K=K, n_threads=nt)
        free = _core.KernelRidgeOperator(X, gamma, mu, n_threads=nt)
        assert_within(stored.apply(v), desired, bound, "stored (K + mu I) v")
        out[nt] = free.apply(v)
        assert_within(out[nt], desired, bound + dK @ np.abs(v),
                      "matrix-free (K + mu I) v")
    assert_within(out[2], out[1], bound + dK @ np.abs(v), "2 threads against 1")


@SETTINGS
@given(n=st.integers(1, 40), data=st.data(),
       mu=st.sampled_from([1e-3, 1.0, 10.0]))
def test_low_rank_preconditioner_applies_the_inverse(n, data, mu):
    r = data.draw(st.integers(0, n))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    U, _ = np.linalg.qr(rng.standard_normal((n, max(r, 1))))
    U = U[:, :r]
    d = data.draw(hnp.arrays(np.float64, r, elements=st.one_of(
        st.just(0.0), st.floats(0.0, 1e3))))
    v = rng.standard_normal(n)
    out = _core.LowRankPreconditioner(U, d, mu).apply(v)

    c = 1.0 / (d + mu) - 1.0 / mu
    desired = v / mu + U @ (c * (U.T @ v))
    bound = 2 * (n + r + 2) * EPS * (np.abs(v) / mu + np.abs(U) @ (
        np.abs(c) * (np.abs(U.T) @ np.abs(v))))
    assert_within(out, desired, bound, "P^-1 v")
    P = U @ np.diag(d) @ U.T + mu * np.eye(n)
    np.testing.assert_allclose(P @ out, v, rtol=0,
                               atol=1e-10 * (1 + d.max(initial=0) / mu)
                               * np.abs(v).max())


@pytest.mark.parametrize("nt", THREADS)
def test_cg_on_the_kernel_ridge_operator_matches_a_dense_solve(nt):
    # A fixed case for the kernel ridge operator (its random cases above).
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    K = np.exp(-0.5 * _sqdist(X, X))
    b = rng.standard_normal(40)
    for op in (_core.KernelRidgeOperator(X, 0.5, 0.1, K=K, n_threads=nt),
               _core.KernelRidgeOperator(X, 0.5, 0.1, n_threads=nt)):
        q = np.zeros(40)
        _, _, status = _core.cg(op, b, q, 1e-11)
        assert status == 0
        np.testing.assert_allclose(q, np.linalg.solve(K + 0.1 * np.eye(40), b),
                                   rtol=0, atol=1e-9)
