"""RBF kernels, products, the kernel ridge oracles and KernelRidgeCV.

References are plain NumPy/SciPy/scikit-learn: ``rbf_kernel`` and
``euclidean_distances`` for the blocks, dense products for the matrix-free
ones, ``KernelRidge`` for the solution, and centred finite differences of the
exactly solved (``scipy.linalg.solve``) validation MSE for the hypergradient.
"""


import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf_kernel
from sklearn.model_selection import KFold

from hoag import BoundaryWarning, KernelRidgeCV, KernelRidgeProblem, _core
from hoag._cv import MeanOverFolds
from hoag.cli import main
from hoag.datasets import load_diabetes_standardised
from hoag.models.kernel_ridge import memory_estimate

# Row counts that are not multiples of the tile sizes (512 columns, 16 rows).
SHAPES = [(1, 1, 3), (37, 1030, 5), (530, 17, 2)]


def _data(n, m, p, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, p)).astype(dtype),
            rng.standard_normal((m, p)).astype(dtype))


def _exact_mse(X, y, Xv, yv, gamma, mu):
    """Validation MSE of the exactly solved problem (SciPy, dense)."""
    K = sk_rbf_kernel(X, gamma=gamma)
    c = scipy.linalg.solve(K + mu * np.eye(len(y)), y, assume_a="pos")
    return np.mean((yv - sk_rbf_kernel(Xv, X, gamma=gamma) @ c) ** 2)


@pytest.fixture(scope="module")
def diabetes_split():
    X, y = load_diabetes_standardised()
    rows = np.random.default_rng(0).permutation(len(y))
    return X[rows[:300]], y[rows[:300]], X[rows[300:]], y[rows[300:]]


# --------------------------------------------------------------------------
# Compiled blocks and products


@pytest.mark.parametrize("n, m, p", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_rbf_kernel_matches_sklearn(n, m, p, dtype, n_threads):
    X, Y = _data(n, m, p, dtype=dtype)
    ref = sk_rbf_kernel(X.astype(np.float64), Y.astype(np.float64), gamma=0.3)
    K = _core.rbf_kernel(X, Y, gamma=0.3, n_threads=n_threads)
    assert K.dtype == np.float64
    np.testing.assert_allclose(K, ref, rtol=1e-12, atol=1e-14)
    D2 = _core.squared_distances(X, Y, n_threads=n_threads)
    np.testing.assert_allclose(
        D2, euclidean_distances(X.astype(np.float64), Y.astype(np.float64),
                                squared=True), rtol=1e-10, atol=1e-12)


def test_self_kernel_is_symmetric_with_unit_diagonal():
    X, _ = _data(300, 1, 4)
    K = _core.rbf_kernel(X, gamma=2.0)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), 1.0)
    np.testing.assert_array_equal(np.diag(_core.squared_distances(X)), 0.0)
    D2 = _core.squared_distances(X)
    np.testing.assert_allclose(_core.rbf_from_sqdist(D2, 2.0), K, rtol=1e-15)


@pytest.mark.parametrize("n, m, p", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_match_dense_references(n, m, p, dtype):
    X, Y = _data(n, m, p, dtype=dtype)
    v = np.random.default_rng(1).standard_normal(m)
    K = sk_rbf_kernel(X.astype(np.float64), Y.astype(np.float64), gamma=0.2)
    D2 = euclidean_distances(X.astype(np.float64), Y.astype(np.float64),
                             squared=True)
    kv, dkv = _core.rbf_products(X, Y, 0.2, v)
    np.testing.assert_allclose(kv, K @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dkv, (D2 * K) @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_core.hadamard_matvec(D2, K, v), (D2 * K) @ v,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_core.d2k_matvec(K, X, Y, v), (D2 * K) @ v,
                               rtol=1e-10, atol=1e-12)


def test_operator_stored_and_matrix_free_equal_dense():
    X, _ = _data(700, 1, 3)
    v = np.random.default_rng(2).standard_normal(700)
    K = _core.rbf_kernel(X, gamma=0.5)
    ref = K @ v + 0.1 * v
    stored = _core.KernelRidgeOperator(X, 0.5, 0.1, K=K)
    free = _core.KernelRidgeOperator(X, 0.5, 0.1)
    np.testing.assert_allclose(stored.apply(v), ref, rtol=1e-12)
    np.testing.assert_allclose(free.apply(v), ref, rtol=1e-12)


def test_low_rank_preconditioner_is_the_inverse_and_speeds_up_cg():
    rng = np.random.default_rng(3)
    U, _ = np.linalg.qr(rng.standard_normal((60, 8)))
    d = rng.random(8) * 10
    P = U @ np.diag(d) @ U.T + 0.05 * np.eye(60)
    v = rng.standard_normal(60)
    np.testing.assert_allclose(_core.LowRankPreconditioner(U, d, 0.05).apply(v),
                               np.linalg.solve(P, v), rtol=1e-10)

    # CG on K + mu I with and without the Nystrom preconditioner.
    X, _ = _data(400, 1, 3, seed=4)
    y = rng.standard_normal(400)
    plain = KernelRidgeProblem(X, y, X[:5], y[:5], preconditioner=False)
    pre = KernelRidgeProblem(X, y, X[:5], y[:5], preconditioner=100)
    lam = np.log([0.5, 1e-3])
    c0, info0 = plain.inner_solve(lam, None, 1e-10)
    c1, info1 = pre.inner_solve(lam, None, 1e-10)
    assert info0.converged and info1.converged
    assert info1.n_iter < info0.n_iter / 2
    np.testing.assert_allclose(c1, c0, rtol=1e-6, atol=1e-8 * np.abs(c0).max())


def test_bad_input_is_rejected_with_clear_errors():
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="dense rows"):
        _core.rbf_kernel(sp.eye(3, format="csr"), gamma=1.0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        _core.rbf_kernel(np.array([[np.nan, 1.0]]), gamma=1.0)
    with pytest.raises(ValueError, match="gamma must be a positive"):
        _core.rbf_kernel(np.ones((2, 2)), gamma=-1.0)
    with pytest.raises(ValueError, match="3 features but Y has 2"):
        _core.rbf_kernel(np.ones((2, 3)), np.ones((2, 2)), gamma=1.0)
    with pytest.raises(ValueError, match="y_val must have shape"):
        KernelRidgeProblem(np.ones((4, 2)), np.ones(4), np.ones((3, 2)), np.ones(2))


# --------------------------------------------------------------------------
# The oracles


@pytest.mark.parametrize("storage", ["full", "kernel", "matrix-free"])
def test_solution_matches_sklearn_kernel_ridge(diabetes_split, storage):
    X, y, Xv, yv = diabetes_split
    problem = KernelRidgeProblem(X, y, Xv, yv, storage=storage)
    for gamma, alpha in [(0.05, 0.3), (0.01, 0.05)]:
        c, info = problem.inner_solve(np.log([gamma, alpha]), None, 1e-13)
        assert info.converged
        ref = KernelRidge(kernel="rbf", gamma=gamma, alpha=alpha).fit(X, y)
        rel = np.linalg.norm(c - ref.dual_coef_) / np.linalg.norm(ref.dual_coef_)
        assert rel <= 1e-8


@pytest.mark.parametrize("storage", ["full", "kernel", "matrix-free"])
@pytest.mark.parametrize("gamma, alpha", [(0.05, 0.3), (0.01, 0.01)])
def test_hypergradient_matches_finite_differences(diabetes_split, storage, gamma,
                                                  alpha):
    X, y, Xv, yv = diabetes_split
    problem = KernelRidgeProblem(X, y, Xv, yv, storage=storage)
    lam = np.log([gamma, alpha])
    c, info = problem.inner_solve(lam, None, 1e-12)
    assert info.converged
    g, d1_g, d2_g = problem.outer_value_grad(c, lam)
    q, info = problem.hessian_solve(c, lam, d1_g, None, 1e-12)
    assert info.converged
    p = d2_g - problem.cross_term(c, lam, q)

    assert g == pytest.approx(_exact_mse(X, y, Xv, yv, gamma, alpha), rel=1e-10)
    h = 1e-5
    for j in range(2):
        e = h * np.eye(2)[j]
        plus = _exact_mse(X, y, Xv, yv, *np.exp(lam + e))
        minus = _exact_mse(X, y, Xv, yv, *np.exp(lam - e))
        assert p[j] == pytest.approx((plus - minus) / (2 * h), rel=1e-5)


def test_matrix_free_path_equals_stored_path(diabetes_split):
    X, y, Xv, yv = diabetes_split
    lam = np.log([0.03, 0.05])
    out = {}
    for storage in ("full", "kernel", "matrix-free"):
        problem = KernelRidgeProblem(X, y, Xv, yv, storage=storage,
                                     preconditioner=False)
        c, _ = problem.inner_solve(lam, None, 1e-12)
        g, d1_g, d2_g = problem.outer_value_grad(c, lam)
        q, _ = problem.hessian_solve(c, lam, d1_g, None, 1e-12)
        out[storage] = np.concatenate([[g], d2_g - problem.cross_term(c, lam, q), c])
    np.testing.assert_allclose(out["matrix-free"], out["full"], rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(out["kernel"], out["full"], rtol=1e-9, atol=1e-9)


def test_memory_estimate_chooses_layout_or_names_the_bytes():
    X, _ = _data(100, 1, 2)
    y = np.zeros(100)
    assert memory_estimate(100, 50, "full") == 2 * 8 * (100 * 100 + 50 * 100)
    assert memory_estimate(100, 50, "kernel") == 8 * (100 * 100 + 50 * 100)
    assert memory_estimate(100, 50, "matrix-free") == 0
    kernel_bytes = memory_estimate(100, 50, "kernel")
    for budget, layout in [(10**9, "full"), (kernel_bytes, "kernel"),
                           (kernel_bytes - 1, "matrix-free")]:
        problem = KernelRidgeProblem(X, y, X[:50], y[:50], memory_budget=budget)
        assert problem.storage == layout
        assert (problem.K is None) == (layout == "matrix-free")
        assert (problem.D2 is None) == (layout != "full")
    with pytest.raises(MemoryError, match="240000 bytes.*memory_budget=1000"):
        KernelRidgeProblem(X, y, X[:50], y[:50], storage="full", memory_budget=1000)


# --------------------------------------------------------------------------
# The estimator and the command line


def test_kernel_ridge_cv_refit_matches_sklearn_and_leaves_input_alone():
    X, y = load_diabetes_standardised()
    X_copy, y_copy = X.copy(), y.copy()
    model = KernelRidgeCV(random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    ref = KernelRidge(kernel="rbf", gamma=model.gamma_, alpha=model.alpha_).fit(X, y)
    np.testing.assert_allclose(model.dual_coef_, ref.dual_coef_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X[:50]), ref.predict(X[:50]),
                               rtol=1e-8)
    assert model.X_fit_.shape == X.shape
    assert model.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-10)
    assert len(model.history_) == model.n_iter_ > 1

    # refit=False keeps the first split's training part and solution.
    kept = KernelRidgeCV(random_state=0, refit=False).fit(X, y)
    assert kept.X_fit_.shape[0] == len(kept.dual_coef_) < len(y)


def test_kernel_ridge_cv_at_a_bound_warns_and_is_usable():
    X, y = load_diabetes_standardised()
    with pytest.warns(BoundaryWarning, match="alpha_=1 is on the lower bound"):
        model = KernelRidgeCV(alpha_bounds=(1.0, 1e4), random_state=0).fit(X, y)
    assert model.alpha_ == pytest.approx(1.0)
    ref = KernelRidge(kernel="rbf", gamma=model.gamma_, alpha=1.0).fit(X, y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-8)


def test_kernel_ridge_cv_folds_and_bad_parameters():
    X, y = load_diabetes_standardised()
    model = KernelRidgeCV(cv=3).fit(X, y)
    assert len(model.result_.x) == 3
    with pytest.raises(ValueError, match="alpha0=100.0 lies outside"):
        KernelRidgeCV(alpha0=100.0, alpha_bounds=(1e-3, 10)).fit(X, y)


def test_cli_tunes_krr_on_diabetes(capsys):
    assert main(["tune", "--model", "krr", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "diabetes" in out and "gamma" in out and "R^2" in out
    assert main(["tune", "--model", "krr", "--C0", "2"]) == 2
    assert "--C0 does not apply to --model krr" in capsys.readouterr().err


def test_unreachable_tolerance_stops_as_stalled(diabetes_split):
    """A tolerance below the rounding floor ends in a status, not at the cap."""
    X, y, Xv, yv = diabetes_split
    problem = KernelRidgeProblem(X, y, Xv, yv, storage="full")
    lam = np.log([0.01, 0.01])
    c, info = problem.inner_solve(lam, None, 1e-17)
    assert not info.converged and "stalled" in info.message
    assert info.n_iter < 100
    # The point returned is as good as a reachable tight solve.
    ref = KernelRidge(kernel="rbf", gamma=0.01, alpha=0.01).fit(X, y)
    rel = np.linalg.norm(c - ref.dual_coef_) / np.linalg.norm(ref.dual_coef_)
    assert rel <= 1e-8


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("gamma, alpha", [(0.05, 0.3), (0.01, 0.01)])
def test_k_fold_hypergradient_matches_finite_differences(gamma, alpha, n_jobs):
    """The mean-over-folds hypergradient is the slope of the exactly solved
    k-fold criterion ``1/k sum_f MSE_f``, in series and with folds in threads."""
    X, y = load_diabetes_standardised()
    X, y = X[:240], y[:240]
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    problems = [KernelRidgeProblem(X[tr], y[tr], X[va], y[va],
                                   n_threads=1 if n_jobs > 1 else None)
                for tr, va in folds]
    mean = MeanOverFolds(problems, n_jobs=n_jobs)
    lam = np.log([gamma, alpha])

    def f(lam):
        return np.mean([_exact_mse(X[tr], y[tr], X[va], y[va], *np.exp(lam))
                        for tr, va in folds])

    c, info = mean.inner_solve(lam.copy(), None, 1e-12)
    assert info.converged
    g, d1_g, d2_g = mean.outer_value_grad(c, lam.copy())
    q, info = mean.hessian_solve(c, lam.copy(), d1_g, None, 1e-12)
    assert info.converged
    p = d2_g - mean.cross_term(c, lam.copy(), q)

    assert g == pytest.approx(f(lam), rel=1e-10)
    h = 1e-5
    for j in range(2):
        e = h * np.eye(2)[j]
        fd = (f(lam + e) - f(lam - e)) / (2 * h)
        assert abs(fd) > 1e-6
        assert p[j] == pytest.approx(fd, rel=1e-5)


# --------------------------------------------------------------------------
# Sample weights


def _weights(n, seed, zeros=0):
    w = np.random.default_rng(seed).uniform(0.2, 3.0, n)
    w[:zeros] = 0.0
    return w


def _exact_weighted_mse(X, y, Xv, yv, gamma, mu, w, v):
    """Weighted validation MSE of scikit-learn's weighted KernelRidge."""
    ref = KernelRidge(kernel="rbf", gamma=gamma, alpha=mu).fit(X, y, sample_weight=w)
    r = yv - ref.predict(Xv)
    return float(v @ r**2 / v.sum())


@pytest.mark.parametrize("storage", ["full", "kernel", "matrix-free"])
def test_weighted_solution_matches_sklearn_and_duplicated_rows(diabetes_split,
                                                               storage):
    X, y, Xv, yv = diabetes_split
    w = _weights(len(y), 1, zeros=5)
    problem = KernelRidgeProblem(X, y, Xv, yv, storage=storage,
                                 sample_weight_train=w)
    lam = np.log([0.05, 0.3])
    x, info = problem.inner_solve(lam, None, 1e-13)
    assert info.converged
    ref = KernelRidge(kernel="rbf", gamma=0.05, alpha=0.3).fit(X, y, sample_weight=w)
    c = problem.dual_coef(x)
    assert np.linalg.norm(c - ref.dual_coef_) <= 1e-8 * np.linalg.norm(ref.dual_coef_)
    assert np.all(c[:5] == 0.0)

    # Integer weights are duplicated rows: the same predictions.
    counts = np.arange(len(y)) % 3
    dup = np.repeat(np.arange(len(y)), counts)
    weighted = KernelRidgeProblem(X, y, Xv, yv, storage=storage,
                                  sample_weight_train=counts)
    repeated = KernelRidgeProblem(X[dup], y[dup], Xv, yv, storage=storage)
    pred_w = weighted.predict_validation(weighted.inner_solve(lam, None, 1e-13)[0],
                                         lam)
    pred_r = repeated.predict_validation(repeated.inner_solve(lam, None, 1e-13)[0],
                                         lam)
    np.testing.assert_allclose(pred_w, pred_r, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("storage", ["full", "matrix-free"])
def test_weighted_hypergradient_matches_finite_differences(diabetes_split, storage):
    X, y, Xv, yv = diabetes_split
    w, v = _weights(len(y), 2, zeros=3), _weights(len(yv), 3, zeros=4)
    problem = KernelRidgeProblem(X, y, Xv, yv, storage=storage,
                                 sample_weight_train=w, sample_weight_val=v)
    lam = np.log([0.03, 0.1])
    x, info = problem.inner_solve(lam, None, 1e-12)
    assert info.converged
    g, d1_g, d2_g = problem.outer_value_grad(x, lam)
    q, info = problem.hessian_solve(x, lam, d1_g, None, 1e-12)
    assert info.converged
    p = d2_g - problem.cross_term(x, lam, q)

    exact = _exact_weighted_mse(X, y, Xv, yv, 0.03, 0.1, w, v)
    assert g == pytest.approx(exact, rel=1e-9)
    h = 1e-5
    for j in range(2):
        e = h * np.eye(2)[j]
        plus = _exact_weighted_mse(X, y, Xv, yv, *np.exp(lam + e), w, v)
        minus = _exact_weighted_mse(X, y, Xv, yv, *np.exp(lam - e), w, v)
        assert p[j] == pytest.approx((plus - minus) / (2 * h), rel=1e-5)


def test_weighted_preconditioner_still_pays(diabetes_split):
    """The Nystrom preconditioner of S K S cuts CG iterations as for K."""
    X, y, Xv, yv = diabetes_split
    w = _weights(len(y), 4, zeros=10)
    lam = np.log([0.02, 1e-3])
    iters = {}
    for rank in (0, 100):
        problem = KernelRidgeProblem(X, y, Xv, yv, preconditioner=rank,
                                     sample_weight_train=w)
        x, info = problem.inner_solve(lam, None, 1e-10)
        assert info.converged
        iters[rank] = info.n_iter
    assert iters[100] < iters[0] / 2


def test_kernel_ridge_cv_sample_weight_refit_matches_sklearn():
    X, y = load_diabetes_standardised()
    w = _weights(len(y), 5, zeros=20)
    w_copy = w.copy()
    model = KernelRidgeCV(cv=3, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(w, w_copy)
    ref = KernelRidge(kernel="rbf", gamma=model.gamma_, alpha=model.alpha_)
    ref.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(model.dual_coef_, ref.dual_coef_, rtol=1e-8,
                               atol=1e-12)

    # The matrix-free refit (memory budget below n^2 doubles) agrees too.
    small = KernelRidgeCV(cv=3, random_state=0, memory_budget=8 * len(y) ** 2 - 1)
    small.fit(X, y, sample_weight=w)
    assert small.gamma_ == pytest.approx(model.gamma_, rel=1e-6)
    ref = KernelRidge(kernel="rbf", gamma=small.gamma_, alpha=small.alpha_)
    ref.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(small.predict(X[:40]), ref.predict(X[:40]),
                               rtol=1e-6, atol=1e-8)

    # Unit weights are no weights; weights change the tuned point.
    ones = KernelRidgeCV(cv=3, random_state=0).fit(X, y, sample_weight=np.ones(len(y)))
    plain = KernelRidgeCV(cv=3, random_state=0).fit(X, y)
    assert ones.gamma_ == plain.gamma_ and ones.alpha_ == plain.alpha_
    assert abs(model.gamma_ - plain.gamma_) > 1e-6 * plain.gamma_


def test_kernel_ridge_cv_sample_weight_errors():
    X, y = load_diabetes_standardised()
    with pytest.raises(ValueError, match="[Nn]egative"):
        KernelRidgeCV().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        KernelRidgeCV().fit(X, y, sample_weight=np.ones(3))
    w = np.ones(len(y))
    w[: len(y) // 2] = 0.0
    with pytest.raises(ValueError, match="weight 0"):
        KernelRidgeCV(cv=[(np.arange(len(y) // 2, len(y)),
                           np.arange(len(y) // 2))]).fit(X, y, sample_weight=w)
