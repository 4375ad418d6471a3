"""Bad input at every public boundary: a clear error before any kernel runs.

A table of (entry point, argument, bad value, expected message): the
estimators' ``fit``, the problems of :mod:`hoag.models` (the oracle interface),
:class:`hoag.MeanOverFolds` and :func:`hoag.hoag`. Every error must name the
argument and what was wrong; the compiled kernels must not be reached (they
are replaced by a function that fails the test).

Then sparse formats, memory layouts and read-only input: accepted, converted
once, giving the same result as C-contiguous CSR/dense float64 input; and
nothing the user passed is modified by a fit.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification

from hoag import (
    KernelRidgeCV,
    KernelRidgeProblem,
    LogisticProblem,
    LogisticRegressionCV,
    MeanOverFolds,
    MultinomialProblem,
    hoag,
)
from hoag import _core
from hoag._validation import check_rows

# Short searches on tiny data: stopping early and ending on a bound are expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::hoag.BoundaryWarning",
)

N, P = 40, 4
RNG = np.random.default_rng(0)
X = RNG.standard_normal((N, P))
Y_PM = np.where(RNG.standard_normal(N) > 0, 1.0, -1.0)
Y_CLASS = np.arange(N) % 3
Y_REAL = RNG.standard_normal(N)


def _with(array, index, value):
    out = np.array(array, dtype=np.result_type(array, type(value)))
    out[index] = value
    return out


def _problem_cases(cls, y):
    """(name, kwargs replacing the valid ones, expected message) of a problem."""
    half = N // 2
    cases = [
        ("X_train NaN", {"X_train": _with(X[:half], (3, 1), np.nan)},
         r"X_train contains NaN"),
        ("X_train inf", {"X_train": _with(X[:half], (0, 0), np.inf)},
         r"X_train contains infinity"),
        ("X_val NaN", {"X_val": _with(X[half:], (1, 2), np.nan)},
         r"X_val contains NaN"),
        ("X_train sparse NaN",
         {"X_train": sp.csr_matrix(_with(X[:half], (3, 1), np.nan))},
         r"X_train contains NaN"),
        ("X_train empty", {"X_train": X[:0], "y_train": y[:0]},
         r"X_train: .*0 sample"),
        ("X_val empty", {"X_val": X[:0], "y_val": y[:0]}, r"X_val: .*0 sample"),
        ("X_train no feature", {"X_train": X[:half, :0]}, r"X_train: .*0 feature"),
        ("X_train 1-D", {"X_train": X[:half, 0]}, r"X_train: Expected 2D"),
        ("X_train 3-D", {"X_train": X[:half, :, None]}, r"X_train: .*dim 3"),
        ("X_train complex", {"X_train": X[:half] + 1j}, r"X_train: Complex"),
        ("X_train object", {"X_train": np.array([["a"] * P] * half, dtype=object)},
         r"X_train: .*could not convert"),
        ("features differ", {"X_val": X[half:, :2]}, r"X_val has 2 features"),
        ("y_train length", {"y_train": y[:half - 1]},
         rf"y_train must have shape \({half},\)"),
        ("y_val 2-D", {"y_val": y[half:, None]}, r"y_val must have shape"),
        ("y_train NaN", {"y_train": _with(y[:half], 4, np.nan)},
         r"y_train contains nan at index 4"),
        ("y_train text", {"y_train": y[:half].astype(str)},
         r"y_train must hold real numbers"),
        ("y_train complex", {"y_train": y[:half] + 0j},
         r"y_train must hold real numbers"),
        ("weights negative",
         {"sample_weight_train": _with(np.ones(half), 2, -1.0)},
         r"sample_weight_train: Negative"),
        ("weights NaN", {"sample_weight_val": _with(np.ones(N - half), 2, np.nan)},
         r"sample_weight_val: .*NaN"),
        ("weights length", {"sample_weight_train": np.ones(half + 1)},
         r"sample_weight_train: .*shape"),
        ("weights zero", {"sample_weight_val": np.zeros(N - half)},
         r"sample_weight_val: .*zero"),
    ]
    if cls is KernelRidgeProblem:
        # No sample weights; dense rows only.
        cases = [c for c in cases if "weights" not in c[0] and "sparse" not in c[0]]
        cases.append(("X_train sparse", {"X_train": sp.csr_matrix(X[:half])},
                      r"X_train must be dense"))
        cases.append(("gamma_bounds order", {"gamma_bounds": (10.0, 0.1)},
                      r"gamma_bounds must satisfy 0 < lower <= upper"))
        cases.append(("alpha_bounds zero", {"alpha_bounds": (0.0, 1.0)},
                      r"alpha_bounds must satisfy 0 < lower"))
    else:
        cases.append(("y_train labels", {"y_train": np.arange(N // 2) % 3 - 1.5},
                      r"y_train must hold (the labels -1 and \+1|class indices)"))
    return cases


PROBLEMS = {
    "logistic": (LogisticProblem, Y_PM),
    "multinomial": (MultinomialProblem, Y_CLASS),
    "krr": (KernelRidgeProblem, Y_REAL),
}
PROBLEM_CASES = [
    pytest.param(key, kwargs, expected, id=f"{key}: {name}")
    for key, (cls, y) in PROBLEMS.items()
    for name, kwargs, expected in _problem_cases(cls, y)
]


@pytest.fixture
def no_kernels(monkeypatch):
    """Make every compiled kernel constructor fail the test if it is called."""
    def fail(*args, **kwargs):
        raise AssertionError("a compiled kernel was reached with bad input")

    for name in ("BinaryLogistic", "Multinomial", "Points", "squared_distances",
                 "rbf_kernel", "rbf_products", "lbfgs", "cg"):
        if hasattr(_core, name):
            monkeypatch.setattr(_core, name, fail)


@pytest.mark.parametrize("key, kwargs, expected", PROBLEM_CASES)
def test_problem_rejects_bad_input(no_kernels, key, kwargs, expected):
    cls, y = PROBLEMS[key]
    half = N // 2
    arguments = {"X_train": X[:half], "y_train": y[:half], "X_val": X[half:],
                 "y_val": y[half:]}
    arguments.update(kwargs)
    positional = [arguments.pop(k) for k in ("X_train", "y_train", "X_val",
                                             "y_val")]
    with pytest.raises((ValueError, TypeError), match=expected):
        cls(*positional, **arguments)


def _estimator_cases():
    """(estimator, fit arguments replacing the valid ones, expected message)."""
    y_bin = (Y_PM > 0).astype(int)
    logistic = LogisticRegressionCV(max_iter=3)
    krr = KernelRidgeCV(max_iter=3)
    cases = []
    for key, est, y in (("logistic", logistic, y_bin), ("krr", krr, Y_REAL)):
        cases += [
            (key, est, {"X": _with(X, (5, 2), np.nan)}, r"X contains NaN"),
            (key, est, {"X": _with(X, (5, 2), -np.inf)}, r"X contains infinity"),
            (key, est, {"X": X[:0], "y": y[:0]}, r"0 sample\(s\)"),
            (key, est, {"X": X[:, :0]}, r"0 feature\(s\)"),
            (key, est, {"X": X[:, 0]}, r"Expected 2D array"),
            (key, est, {"X": X[:, :, None]}, r"dim 3"),
            (key, est, {"X": X + 1j}, r"Complex data not supported"),
            (key, est, {"X": np.full((N, P), "a", dtype=object)},
             r"could not convert string to float"),
            (key, est, {"y": y[:-1]}, r"inconsistent numbers of samples"),
            (key, est, {"y": np.c_[y, y]}, r"y should be a 1d array"),
            (key, est, {"y": _with(y.astype(float), 3, np.nan)}, r"y contains NaN"),
        ]
    cases += [
        ("logistic", logistic, {"y": np.ones(N)}, r"only one class: 1\.0"),
        ("logistic", logistic, {"y": Y_REAL}, r"Unknown label type: continuous"),
        ("logistic", logistic, {"sample_weight": _with(np.ones(N), 7, -2.0)},
         r"Negative values .*`sample_weight`"),
        ("logistic", logistic, {"sample_weight": _with(np.ones(N), 7, np.nan)},
         r"sample_weight contains NaN"),
        ("logistic", logistic, {"sample_weight": np.ones(N + 1)},
         r"sample_weight.shape == \(41,\)"),
        ("logistic", logistic, {"sample_weight": np.zeros(N)},
         r"Sample weights must contain at least one non-zero number"),
        ("logistic", LogisticRegressionCV(C_bounds=(10.0, 0.1)), {},
         r"C_bounds must satisfy 0 < lower <= upper"),
        ("logistic", LogisticRegressionCV(C0=0.0), {}, r"C0 must be a positive"),
        ("logistic", LogisticRegressionCV(C0=-1.0), {}, r"C0 must be a positive"),
        ("logistic", LogisticRegressionCV(C0=np.nan), {}, r"C0 must be a positive"),
        ("logistic", LogisticRegressionCV(cv=[(np.arange(30), np.arange(30, 45))]),
         {}, r"cv: fold 0: index 40 is out of range for 40 samples"),
        ("logistic", LogisticRegressionCV(cv=[(np.arange(30.0), np.arange(30, 40))]),
         {}, r"cv: fold 0: the training indices must be integers"),
        ("krr", krr, {"y": np.array(["a"] * N)}, r"y must hold real numbers"),
        ("krr", krr, {"sample_weight": _with(np.ones(N), 7, -2.0)},
         r"Negative values .*`sample_weight`"),
        ("krr", krr, {"sample_weight": _with(np.ones(N), 7, np.nan)},
         r"sample_weight contains NaN"),
        ("krr", krr, {"sample_weight": np.ones(N - 1)},
         r"sample_weight.shape == \(39,\)"),
        ("krr", krr, {"X": sp.csr_matrix(X)}, r"dense data is required"),
        ("krr", KernelRidgeCV(gamma_bounds=(10.0, 0.1)), {},
         r"gamma_bounds must satisfy 0 < lower <= upper"),
        ("krr", KernelRidgeCV(alpha_bounds=(1.0, -1.0)), {},
         r"alpha_bounds must satisfy 0 < lower <= upper"),
        ("krr", KernelRidgeCV(gamma0=0.0), {}, r"gamma0 must be a positive"),
        ("krr", KernelRidgeCV(alpha0=-1.0), {}, r"alpha0 must be a positive"),
        ("krr", KernelRidgeCV(alpha0=np.inf), {}, r"alpha0 must be a positive"),
        ("krr", KernelRidgeCV(cv=[(np.arange(30), np.arange(-1, 10))]), {},
         r"cv: fold 0: index -1 is out of range for 40 samples"),
    ]
    return cases


ESTIMATOR_CASES = [
    pytest.param(est, kwargs, expected, id=f"{key}: {expected[:40]}")
    for key, est, kwargs, expected in _estimator_cases()
]


@pytest.mark.parametrize("estimator, kwargs, expected", ESTIMATOR_CASES)
def test_estimator_rejects_bad_input(no_kernels, estimator, kwargs, expected):
    y = Y_REAL if isinstance(estimator, KernelRidgeCV) else (Y_PM > 0).astype(int)
    arguments = {"X": X, "y": y, **kwargs}
    with pytest.raises((ValueError, TypeError), match=expected):
        estimator.fit(arguments.pop("X"), arguments.pop("y"), **arguments)


def _small_problem():
    return LogisticProblem(X[:20], Y_PM[:20], X[20:], Y_PM[20:])


@pytest.mark.parametrize("problems, error, expected", [
    ([], ValueError, r"at least one problem"),
    ([object()], TypeError, r"problems\[0\]: problem lacks .*inner_solve"),
    ("problem", TypeError, r"problems\[0\]: problem lacks"),
], ids=["empty", "not a problem", "a string"])
def test_mean_over_folds_rejects_bad_problems(problems, error, expected):
    with pytest.raises(error, match=expected):
        MeanOverFolds(problems)


def test_mean_over_folds_rejects_different_sizes():
    grouped = LogisticProblem(X[:20], Y_PM[:20], X[20:], Y_PM[20:],
                              groups=np.arange(P))
    with pytest.raises(ValueError, match=r"same number of hyperparameters"):
        MeanOverFolds([_small_problem(), grouped])


@pytest.mark.parametrize("lam0, bounds, expected", [
    (np.nan, None, r"lam0 must be finite"),
    ([0.0, 1.0], None, r"lam0 must be a 1-D array of length n_hyperparams=1"),
    ("zero", None, r"lam0 must be an array of floats"),
    (0.0, (3.0, -3.0), r"bounds must satisfy lower <= upper"),
    (0.0, (np.nan, 1.0), r"bounds must not contain NaN"),
    (0.0, [(0, 1, 2)], r"bounds must be None, a pair"),
], ids=["lam0 NaN", "lam0 length", "lam0 text", "bounds order", "bounds NaN",
        "bounds shape"])
def test_hoag_rejects_bad_start_and_bounds(lam0, bounds, expected):
    with pytest.raises(ValueError, match=expected):
        hoag(_small_problem(), lam0, bounds=bounds, max_iter=2)


def test_hoag_rejects_an_object_without_oracles():
    with pytest.raises(TypeError, match=r"lacks the HOAG oracle interface"):
        hoag(object(), 0.0)


# --------------------------------------------------------------------------
# Sparse formats, memory layouts, read-only input


def _sparse_data():
    """A small sparse classification problem: 60 x 8, about half zeros."""
    Xs, ys = make_classification(n_samples=60, n_features=8, n_informative=4,
                                 random_state=1)
    Xs[np.abs(Xs) < 0.7] = 0.0
    return Xs, ys


def _int64(matrix):
    out = matrix.copy()
    out.indices = out.indices.astype(np.int64)
    out.indptr = out.indptr.astype(np.int64)
    return out


SPARSE_FORMATS = {
    "csc_matrix": sp.csc_matrix,
    "coo_matrix": sp.coo_matrix,
    "lil_matrix": sp.lil_matrix,
    "dok_matrix": sp.dok_matrix,
    "bsr_matrix": sp.bsr_matrix,
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
    "coo_array": sp.coo_array,
    "csr_matrix int64": lambda a: _int64(sp.csr_matrix(a)),
    "csr_array int64": lambda a: _int64(sp.csr_array(a)),
    "csr_matrix float32": lambda a: sp.csr_matrix(a.astype(np.float32)),
    "csr_matrix int": lambda a: sp.csr_matrix(np.round(3 * a).astype(np.int64)),
}


@pytest.mark.parametrize("name", sorted(SPARSE_FORMATS))
def test_check_rows_converts_any_sparse_format_to_csr(name):
    Xs, _ = _sparse_data()
    given = SPARSE_FORMATS[name](Xs)
    rows = check_rows(given, "X")
    assert rows.format == "csr"
    assert rows.indices.dtype == np.intc and rows.indptr.dtype == np.intc
    assert rows.dtype == (np.float32 if "float32" in name else np.float64)
    assert rows.has_canonical_format
    np.testing.assert_array_equal(rows.toarray(), given.toarray())


def test_check_rows_keeps_duplicates_as_their_sum():
    coo = sp.coo_matrix(([1.0, 2.0, 4.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    csr = sp.csr_matrix((coo.data, coo.col, [0, 2, 3]), shape=(2, 2))
    assert not csr.has_canonical_format
    for given in (coo, csr):
        rows = check_rows(given, "X")
        assert rows.nnz == 2
        np.testing.assert_array_equal(rows.toarray(), [[0.0, 3.0], [4.0, 0.0]])
    assert csr.nnz == 3  # the user's matrix is not merged in place


def test_csr_float64_int32_input_is_not_copied(monkeypatch):
    Xs, ys = _sparse_data()
    csr = sp.csr_matrix(Xs)
    assert check_rows(csr, "X") is csr
    sixty_four = _int64(csr)
    narrowed = check_rows(sixty_four, "X")
    assert np.shares_memory(narrowed.data, sixty_four.data)

    # What the kernel constructor receives shares the user's arrays.
    received = []
    original = _core.BinaryLogistic

    def record(X, *args, **kwargs):
        received.append(X)
        return original(X, *args, **kwargs)

    monkeypatch.setattr(_core, "BinaryLogistic", record)
    y_pm = np.where(ys == 1, 1.0, -1.0)
    LogisticProblem(csr, y_pm, csr, y_pm)
    assert len(received) == 2
    for X_seen in received:
        assert X_seen is csr
        assert np.shares_memory(X_seen.data, csr.data)
        assert np.shares_memory(X_seen.indices, csr.indices)


@pytest.mark.parametrize("name", sorted(SPARSE_FORMATS))
def test_estimator_gives_the_same_fit_for_every_sparse_format(name):
    Xs, ys = _sparse_data()
    model = dict(cv=3, max_iter=5, tol=1e-12)
    reference = LogisticRegressionCV(**model).fit(sp.csr_matrix(Xs), ys)
    given = SPARSE_FORMATS[name](Xs)
    if "float32" in name or " int" == name[-4:]:
        # Other values (rounded or single precision): compare with dense input
        # of the same values.
        reference = LogisticRegressionCV(**model).fit(given.toarray(), ys)
    fitted = LogisticRegressionCV(**model).fit(given, ys)
    tolerance = 1e-5 if "float32" in name else 1e-10
    np.testing.assert_allclose(fitted.C_, reference.C_, rtol=tolerance)
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=tolerance,
                               atol=tolerance)


def _layouts(A, tmp_path):
    """The same values as C-contiguous, Fortran, strided, read-only, memmap."""
    fortran = np.asfortranarray(A)
    wide = np.zeros((A.shape[0], 2 * A.shape[1]))
    wide[:, ::2] = A
    strided = wide[:, ::2]
    read_only = A.copy()
    read_only.setflags(write=False)
    path = tmp_path / "X.dat"
    on_disk = np.memmap(path, dtype=A.dtype, mode="w+", shape=A.shape)
    on_disk[:] = A
    on_disk.flush()
    del on_disk
    mapped = np.memmap(path, dtype=A.dtype, mode="r", shape=A.shape)
    assert not fortran.flags.c_contiguous and not strided.flags.c_contiguous
    assert not read_only.flags.writeable and not mapped.flags.writeable
    return {"fortran": fortran, "strided": strided, "read-only": read_only,
            "memmap r": mapped}


@pytest.mark.parametrize("layout", ["fortran", "strided", "read-only", "memmap r"])
def test_dense_layouts_give_the_same_fit(tmp_path, layout):
    Xs, ys = _sparse_data()
    given = _layouts(Xs, tmp_path)[layout]
    model = dict(cv=3, max_iter=5, tol=1e-12)
    reference = LogisticRegressionCV(**model).fit(Xs, ys)
    fitted = LogisticRegressionCV(**model).fit(given, ys)
    np.testing.assert_allclose(fitted.C_, reference.C_, rtol=1e-10)
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(fitted.predict_proba(given),
                               reference.predict_proba(Xs), rtol=1e-10)

    y_real = Xs @ np.arange(1.0, 9.0) / 10 + np.sin(Xs[:, 0])
    model = dict(cv=3, max_iter=4, tol=1e-12)
    reference = KernelRidgeCV(**model).fit(Xs, y_real)
    fitted = KernelRidgeCV(**model).fit(given, y_real)
    np.testing.assert_allclose([fitted.gamma_, fitted.alpha_],
                               [reference.gamma_, reference.alpha_], rtol=1e-10)
    np.testing.assert_allclose(fitted.predict(given), reference.predict(Xs),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", ["fortran", "strided", "read-only", "memmap r"])
def test_problems_take_every_dense_layout(tmp_path, layout):
    Xs, ys = _sparse_data()
    given = _layouts(Xs, tmp_path)[layout]
    y_pm = np.where(ys == 1, 1.0, -1.0)
    lam = np.array([0.5])
    for cls, y in ((LogisticProblem, y_pm), (MultinomialProblem, ys),
                   (KernelRidgeProblem, y_pm)):
        lam = np.zeros(2) if cls is KernelRidgeProblem else np.array([0.5])
        reference = cls(Xs[:40], y[:40], Xs[40:], y[40:])
        problem = cls(given[:40], y[:40], given[40:], y[40:])
        x_ref, _ = reference.inner_solve(lam, None, 1e-10)
        x, _ = problem.inner_solve(lam, None, 1e-10)
        np.testing.assert_allclose(x, x_ref, rtol=1e-10, atol=1e-12)
        g_ref = reference.outer_value_grad(x_ref, lam)[0]
        np.testing.assert_allclose(problem.outer_value_grad(x, lam)[0], g_ref,
                                   rtol=1e-10)


# --------------------------------------------------------------------------
# Nothing the user passed is modified


def _snapshot(*arrays):
    return [a.copy() for a in arrays]


def test_fit_modifies_nothing_it_was_given():
    Xs, ys = _sparse_data()
    weights = np.linspace(0.5, 2.0, ys.size)
    folds = [(np.arange(0, 40), np.arange(40, 60)),
             (np.arange(20, 60), np.arange(0, 20))]
    for X_given in (Xs.copy(), sp.csr_matrix(Xs), sp.coo_matrix(Xs)):
        before = _snapshot(X_given, ys, weights, *[i for f in folds for i in f])
        LogisticRegressionCV(cv=folds, max_iter=3).fit(X_given, ys,
                                                       sample_weight=weights)
        after = [X_given, ys, weights, *[i for f in folds for i in f]]
        for old, new in zip(before, after):
            if sp.issparse(old):
                assert (old != new).nnz == 0
                np.testing.assert_array_equal(old.data, new.data)
            else:
                np.testing.assert_array_equal(old, new)

    y_real = Xs[:, 0] + Xs[:, 1] ** 2
    before = _snapshot(Xs, y_real, *[i for f in folds for i in f])
    KernelRidgeCV(cv=folds, max_iter=3).fit(Xs, y_real)
    for old, new in zip(before, [Xs, y_real, *[i for f in folds for i in f]]):
        np.testing.assert_array_equal(old, new)


def _read_only(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("cls", [LogisticProblem, MultinomialProblem,
                                 KernelRidgeProblem])
def test_oracles_take_read_only_vectors(cls):
    # The compiled value_grad / set_hessian_point / apply read x through const
    # memoryviews: a read-only x (a result kept frozen, a memory map) works.
    Xs, ys = _sparse_data()
    y = ys if cls is MultinomialProblem else np.where(ys == 1, 1.0, -1.0)
    problem = cls(Xs[:40], y[:40], Xs[40:], y[40:])
    lam = np.zeros(problem.n_hyperparams)
    x, _ = problem.inner_solve(lam, None, 1e-10)
    g, d1_g, _ = problem.outer_value_grad(x, lam)
    q, _ = problem.hessian_solve(x, lam, d1_g, None, 1e-10)
    cross = problem.cross_term(x, lam, q)

    lam_r, x_r, b_r = _read_only(lam), _read_only(x), _read_only(d1_g)
    x2, _ = problem.inner_solve(lam_r, x_r, 1e-10)
    g2, d1_g2, _ = problem.outer_value_grad(x_r, lam_r)
    q2, _ = problem.hessian_solve(x_r, lam_r, b_r, _read_only(q), 1e-10)
    np.testing.assert_allclose(x2, x, rtol=1e-8, atol=1e-10)
    assert g2 == g
    np.testing.assert_array_equal(d1_g2, d1_g)
    np.testing.assert_allclose(q2, q, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(problem.cross_term(x_r, lam_r, _read_only(q)),
                                  cross)
