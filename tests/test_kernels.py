"""The compiled logistic kernels against a plain NumPy/SciPy transcription.

The reference (``tests/_reference.py``) computes, in float64 and with SciPy's
sparse products,

    h(x)   = sum_i s_i log(1 + exp(-y_i z_i)) + 1/2 sum_j alpha_j x_j^2
    grad h = A^T r + alpha x,           r_i = -s_i y_i sigmoid(-y_i z_i)
    H v    = A^T (d * (A v)) + alpha v, d_i = s_i sigmoid(z_i) (1 - sigmoid(z_i))
    diag H = sum_i d_i a_ij^2 + alpha_j

with z = A w + b and the intercept as a column of ones in A. Every kernel of
``hoag._core.BinaryLogistic`` is compared with it over layouts, dtypes, weights,
intercepts, thread counts and real data, then with finite differences.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from hoag._core import BinaryLogistic, Rows, max_threads, openmp_enabled

from _reference import LogisticReference as Reference, assert_close


# --------------------------------------------------------------------------- #
# Reference transcription


def check_against_reference(obj, ref, x, v, rtol):
    """Compare loss, gradient, residuals, HVP, curvature and diagonal at x."""
    f, g = obj.value_grad(x)
    assert_close(f, ref.loss(x), rtol)
    assert_close(g, ref.grad(x), rtol)
    assert_close(obj.residuals, ref.residuals(x), rtol)

    obj.set_hessian_point(x)
    assert_close(obj.curvature, ref.curvature(x), rtol)
    assert_close(obj.apply(v), ref.hvp(x, v), rtol)
    assert_close(obj.hessian_diagonal(), ref.hessian_diagonal(x), rtol)


# --------------------------------------------------------------------------- #
# Random problems


def make_problem(seed, layout, dtype, zero_rows=True):
    """A random problem of random shape, with empty and all-zero rows.

    Returns X (dense or CSR, of ``dtype``), X64 (the same values as float64,
    before any rounding to float32), labels, weights, a point x and a direction v
    (both of length p + 1), and a positive penalty vector alpha.
    """
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(5, 80)), int(rng.integers(1, 40))
    X64 = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.3)
    if zero_rows:
        X64[rng.choice(n, size=max(1, n // 5), replace=False)] = 0.0
    X64[0] = 0.0
    y = rng.choice([-1.0, 1.0], size=n)
    sw = rng.uniform(0.0, 3.0, size=n)
    sw[rng.integers(n)] = 0.0
    x = rng.standard_normal(p + 1)
    v = rng.standard_normal(p + 1)
    alpha = rng.uniform(0.1, 2.0, size=p + 1)
    X = X64.astype(dtype)
    if layout == "csr":
        X = sp.csr_matrix(X)
        X64 = sp.csr_matrix(X64)
        assert np.any(np.diff(X.indptr) == 0)
    return X, X64, y, sw, x, v, alpha


LAYOUTS = ["dense", "csr"]
RTOL = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernels_match_reference(seed, layout, dtype, fit_intercept, weighted):
    X, X64, y, sw, x, v, alpha = make_problem(seed, layout, dtype)
    sw = sw if weighted else None
    n_coef = X.shape[1] + fit_intercept
    x, v, alpha = x[:n_coef], v[:n_coef], alpha[:n_coef]

    obj = BinaryLogistic(X, y, sample_weight=sw, fit_intercept=fit_intercept)
    obj.alpha = alpha
    assert obj.n == n_coef
    assert obj.rows.is32 == (dtype == np.float32)
    assert obj.rows.csr == (layout == "csr")

    # float32 data against the exact float64 data: only the data were rounded
    ref = Reference(X64, y, alpha, sw, fit_intercept)
    check_against_reference(obj, ref, x, v, RTOL[dtype])

    # against the float32 values themselves: every accumulation is float64
    ref_same = Reference(X, y, alpha, sw, fit_intercept)
    check_against_reference(obj, ref_same, x, v, 1e-10)


def test_float32_stays_float32():
    X, _, y, _, _, _, _ = make_problem(0, "dense", np.float32)
    assert Rows(X).is32
    assert Rows(sp.csr_matrix(X)).is32
    assert not Rows(X.astype(np.float64)).is32
    assert BinaryLogistic(X, y).rows.is32


def test_int64_indices_and_csr_array():
    X, X64, y, _, x, v, alpha = make_problem(1, "csr", np.float64)
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    ref = Reference(X64, y, alpha)
    for M in (X, sp.csr_array(X)):
        obj = BinaryLogistic(M, y)
        obj.alpha = alpha
        check_against_reference(obj, ref, x, v, 1e-10)


def test_unsorted_and_duplicate_csr_indices():
    # CSR with each row's entries reversed and one entry split in two halves
    X, X64, y, _, x, v, alpha = make_problem(2, "csr", np.float64)
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        sl = slice(X.indptr[i], X.indptr[i + 1])
        d, j = X.data[sl][::-1], X.indices[sl][::-1]
        if d.size:
            d = np.r_[d[:1] / 2, d[:1] / 2, d[1:]]
            j = np.r_[j[:1], j[:1], j[1:]]
        data += list(d)
        indices += list(j)
        indptr.append(len(data))
    M = sp.csr_matrix((data, indices, indptr), shape=X.shape)
    assert not M.has_canonical_format
    obj = BinaryLogistic(M, y)
    obj.alpha = alpha
    check_against_reference(obj, Reference(X64, y, alpha), x, v, 1e-10)


def test_alpha_intercept_entry_is_zero_and_alpha_is_writable():
    X, _, y, _, x, _, _ = make_problem(3, "dense", np.float64)
    obj = BinaryLogistic(X, y)
    obj.alpha = 2.0
    assert obj.alpha[-1] == 0.0
    assert np.all(obj.alpha[:-1] == 2.0)

    # writing into the array changes the penalty in place
    obj.alpha[0] = 5.0
    ref_alpha = np.full(obj.n, 2.0)
    ref_alpha[0] = 5.0
    f, _ = obj.value_grad(x)
    assert_close(f, Reference(X, y, ref_alpha).loss(x), 1e-12)

    obj_no = BinaryLogistic(X, y, fit_intercept=False)
    obj_no.alpha = 2.0
    assert obj_no.n == X.shape[1]
    assert np.all(obj_no.alpha == 2.0)


def test_zero_samples():
    X = sp.csr_matrix((0, 4))
    obj = BinaryLogistic(X, np.zeros(0))
    obj.alpha = 3.0
    x = np.arange(5.0)
    f, g = obj.value_grad(x)
    assert f == pytest.approx(0.5 * 3.0 * np.sum(x[:4] ** 2))
    np.testing.assert_allclose(g, np.r_[3.0 * x[:4], 0.0])


def test_value_grad_writes_into_given_array():
    X, _, y, _, x, _, _ = make_problem(4, "csr", np.float64)
    obj = BinaryLogistic(X, y)
    grad = np.full(obj.n, np.nan)
    f, g = obj.value_grad(x, grad)
    assert g is grad
    assert np.all(np.isfinite(grad))
    out = np.full(obj.n, np.nan)
    obj.set_hessian_point(x)
    assert obj.apply(x, out) is out
    assert np.all(np.isfinite(out))


# --------------------------------------------------------------------------- #
# Read-only and memory-mapped input


def _readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_readonly_input(layout, dtype):
    X, X64, y, sw, x, v, alpha = make_problem(5, layout, dtype)
    if layout == "csr":
        X = sp.csr_matrix((_readonly(X.data), _readonly(X.indices),
                           _readonly(X.indptr)), shape=X.shape)
        assert not X.data.flags.writeable
    else:
        X = _readonly(X)
    obj = BinaryLogistic(X, _readonly(y), sample_weight=_readonly(sw))
    obj.alpha = alpha
    check_against_reference(obj, Reference(X64, y, alpha, sw), x, v, RTOL[dtype])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_memmap_input(tmp_path, layout, dtype):
    X, X64, y, sw, x, v, alpha = make_problem(6, layout, dtype)

    def mapped(a, name):
        a = np.ascontiguousarray(a)
        path = tmp_path / name
        mm = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        mm[...] = a
        mm.flush()
        del mm
        return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)

    if layout == "csr":
        X = sp.csr_matrix((mapped(X.data, "data"), mapped(X.indices, "ind"),
                           mapped(X.indptr, "ptr")), shape=X.shape)
    else:
        X = mapped(X, "X")
        assert isinstance(X, np.memmap) and not X.flags.writeable
    obj = BinaryLogistic(X, mapped(y, "y"), sample_weight=mapped(sw, "sw"))
    obj.alpha = alpha
    assert obj.rows.is32 == (dtype == np.float32)
    check_against_reference(obj, Reference(X64, y, alpha, sw), x, v, RTOL[dtype])


# --------------------------------------------------------------------------- #
# Extreme margins


@pytest.mark.parametrize("layout", LAYOUTS)
def test_huge_margins(layout):
    # z_i = +-1e4: rows 0 and 2 are hugely wrong, rows 1 and 3 hugely right
    X = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    y = np.array([-1.0, 1.0, 1.0, -1.0])
    X = sp.csr_matrix(X) if layout == "csr" else X
    obj = BinaryLogistic(X, y, fit_intercept=False)
    x = np.array([1e4])

    f, g = obj.value_grad(x)
    # log(1 + exp(1e4)) = 1e4 + log1p(exp(-1e4)) = 1e4 to the last bit
    assert f == 2e4
    # r_i = -y_i for the wrong rows, -y_i exp(-1e4) = -0.0 for the right ones
    np.testing.assert_array_equal(obj.residuals, [1.0, 0.0, -1.0, 0.0])
    assert g[0] == 2.0
    assert_close(f, Reference(X, y, 0.0, fit_intercept=False).loss(x), 1e-15)

    obj.set_hessian_point(x)
    assert np.all(np.isfinite(obj.curvature)) and np.all(obj.curvature >= 0)
    assert np.all(obj.curvature < 1e-300)
    assert np.all(np.isfinite(obj.apply(np.array([1.0]))))
    assert np.all(np.isfinite(obj.hessian_diagonal()))

    # the opposite sign: all rows flip between right and wrong
    f, g = obj.value_grad(-x)
    assert f == 2e4
    assert g[0] == -2.0


def test_moderate_margins_match_reference():
    # margins spread over [-50, 50], where exp(-|z|) is small but representable
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 3)) * 20
    y = rng.choice([-1.0, 1.0], 200)
    x = np.array([1.0, -0.5, 0.25, 0.1])
    obj = BinaryLogistic(X, y)
    check_against_reference(obj, Reference(X, y, 0.0), x, rng.standard_normal(4),
                            1e-10)


# --------------------------------------------------------------------------- #
# Threads


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_agree(layout, dtype):
    rng = np.random.default_rng(8)
    n, p = 3000, 60
    X = (rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.5)).astype(dtype)
    X = sp.csr_matrix(X) if layout == "csr" else X
    y = rng.choice([-1.0, 1.0], n)
    sw = rng.uniform(0.5, 2.0, n)
    x, v = rng.standard_normal(p + 1) * 0.3, rng.standard_normal(p + 1)

    results = []
    for nt in (1, 2):
        obj = BinaryLogistic(X, y, sample_weight=sw, n_threads=nt)
        assert obj.n_threads == (nt if openmp_enabled() else 1)
        obj.alpha = 0.5
        f, g = obj.value_grad(x)
        obj.set_hessian_point(x)
        results.append((f, g, obj.residuals.copy(), obj.curvature.copy(),
                        obj.apply(v), obj.hessian_diagonal()))
    for one, two in zip(*results):
        assert_close(two, one, 1e-10)

    ref = Reference(X, y, 0.5, sw)
    assert_close(results[1][1], ref.grad(x), 1e-10)


def test_thread_count_resolution():
    X, _, y, _, _, _, _ = make_problem(9, "dense", np.float64)
    # small data and no request: one thread; -1 means all OpenMP threads
    assert BinaryLogistic(X, y).n_threads == 1
    expected = max_threads() if openmp_enabled() else 1
    assert BinaryLogistic(X, y, n_threads=-1).n_threads == expected


# --------------------------------------------------------------------------- #
# Real data


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), 2.0 * y - 1.0


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_breast_cancer(layout, dtype):
    X64, y = breast_cancer()
    X = X64.astype(dtype)
    X = sp.csr_matrix(X) if layout == "csr" else X
    rng = np.random.default_rng(10)
    x, v = rng.standard_normal(31) * 0.5, rng.standard_normal(31)
    obj = BinaryLogistic(X, y)
    obj.alpha = 0.1
    check_against_reference(obj, Reference(X64, y, 0.1), x, v, RTOL[dtype])


@pytest.mark.parametrize("n_threads", [1, 2])
def test_news20_subset(news20, n_threads):
    X, y = news20[0][:3000], news20[1][:3000]
    rng = np.random.default_rng(11)
    n_coef = X.shape[1] + 1
    x, v = rng.standard_normal(n_coef), rng.standard_normal(n_coef)
    obj = BinaryLogistic(X, y, n_threads=n_threads)
    obj.alpha = 0.05
    check_against_reference(obj, Reference(X, y, 0.05), x, v, 1e-10)

    # float32 copy of the same rows
    obj32 = BinaryLogistic(X.astype(np.float32), y, n_threads=n_threads)
    obj32.alpha = 0.05
    assert obj32.rows.is32
    check_against_reference(obj32, Reference(X, y, 0.05), x, v, 1e-4)


# --------------------------------------------------------------------------- #
# Finite differences


def central_difference(fun, x, v, h):
    """Fourth-order central difference of fun at x along v."""
    return (-fun(x + 2 * h * v) + 8 * fun(x + h * v) - 8 * fun(x - h * v)
            + fun(x - 2 * h * v)) / (12 * h)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_finite_differences(layout, fit_intercept):
    X, _, y, sw, x, _, alpha = make_problem(12, layout, np.float64)
    n_coef = X.shape[1] + fit_intercept
    x, alpha = x[:n_coef], alpha[:n_coef]
    obj = BinaryLogistic(X, y, sample_weight=sw, fit_intercept=fit_intercept)
    obj.alpha = alpha
    _, g = obj.value_grad(x)
    obj.set_hessian_point(x)

    rng = np.random.default_rng(13)
    for _ in range(5):
        v = rng.standard_normal(n_coef)
        v /= np.linalg.norm(v)

        # directional derivative of h: grad . v
        slope = central_difference(lambda t: obj.value_grad(t)[0], x, v, 1e-3)
        assert slope == pytest.approx(g @ v, rel=1e-7, abs=1e-9)

        # derivative of the gradient along v: H v (copies, the buffer is reused)
        dgrad = central_difference(lambda t: obj.value_grad(t)[1].copy(), x, v, 1e-3)
        assert_close(obj.apply(v), dgrad, 1e-7)


# --------------------------------------------------------------------------- #
# Bad input


def test_bad_labels():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        BinaryLogistic(X, [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="-1 and \\+1"):
        BinaryLogistic(X, [1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="shape"):
        BinaryLogistic(X, [1.0, -1.0])
    with pytest.raises(ValueError, match="shape"):
        BinaryLogistic(X, np.ones((3, 1)))


def test_bad_sample_weight():
    X, y = np.ones((3, 2)), np.array([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        BinaryLogistic(X, y, sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        BinaryLogistic(X, y, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        BinaryLogistic(X, y, sample_weight=[1.0, np.inf, 1.0])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, object, np.complex128,
                                   np.float16])
def test_bad_dtype(dtype):
    X = np.ones((3, 2), dtype=dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        Rows(X)
    with pytest.raises(TypeError, match="float32 or float64"):
        BinaryLogistic(X, [1.0, -1.0, 1.0])
    if dtype not in (object, np.float16):
        with pytest.raises(TypeError, match="float32 or float64"):
            Rows(sp.csr_matrix(X))


def test_bad_layout_and_shape():
    y = [1.0, -1.0, 1.0]
    X = np.ones((3, 4))
    with pytest.raises(ValueError, match="C-contiguous"):
        BinaryLogistic(np.asfortranarray(np.arange(12.0).reshape(3, 4)), y)
    with pytest.raises(ValueError, match="C-contiguous"):
        BinaryLogistic(np.ones((3, 8))[:, ::2], y)
    with pytest.raises(ValueError, match="2-D"):
        Rows(np.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        Rows(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="CSR"):
        BinaryLogistic(sp.csc_matrix(X), y)
    with pytest.raises(ValueError, match="CSR"):
        BinaryLogistic(sp.coo_matrix(X), y)


def test_malformed_csr_is_refused():
    X = sp.csr_matrix(np.eye(3))
    bad = sp.csr_matrix(np.eye(3))
    bad.indices = np.array([0, 1, 7], dtype=np.int32)
    with pytest.raises(ValueError, match="column indices"):
        Rows(bad)
    bad = sp.csr_matrix(np.eye(3))
    bad.indptr = np.array([0, 2, 1, 3], dtype=np.int32)
    with pytest.raises(ValueError, match="indptr"):
        Rows(bad)
    assert Rows(X).nnz == 3


def test_bad_vector_lengths():
    X, y = np.ones((3, 2)), np.array([1.0, -1.0, 1.0])
    obj = BinaryLogistic(X, y)
    with pytest.raises(ValueError, match="x has length 2, expected 3"):
        obj.value_grad(np.zeros(2))
    with pytest.raises(ValueError, match="grad has length 2"):
        obj.value_grad(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="x has length"):
        obj.set_hessian_point(np.zeros(4))
    with pytest.raises(ValueError, match="v has length"):
        obj.apply(np.zeros(4))
    with pytest.raises(ValueError, match="out has length"):
        obj.apply(np.zeros(3), np.zeros(1))
    with pytest.raises(ValueError):
        obj.alpha = np.ones(2)
