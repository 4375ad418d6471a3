"""Results do not depend on the number of threads beyond reassociation.

The accumulating kernels split the rows into chunks that do not depend on the
thread count and add the chunks' partial sums in a fixed order (design note E
of ``src/_core.pyx``); the other kernels work row by row. Here whole fits
(outer loop, inner L-BFGS and CG solves, the refit) with ``n_threads=1`` and
``n_threads=2`` are compared to 1e-10 relative on small real data sets, after
checking that the estimators' ``n_threads`` does reach every kernel they build.
Before the fixed chunks, per-thread buffers made one and two threads differ by
1e-15 per gradient, which 15 outer iterations of inexact solves grew to 2e-3 in
the coefficients of the breast cancer fit.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from hoag import KernelRidgeCV, LogisticRegressionCV, _core
from hoag.datasets import load_breast_cancer_standardised, load_diabetes_standardised

RTOL = 1e-10

pytestmark = pytest.mark.skipif(not _core.openmp_enabled(),
                                reason="built without OpenMP: one thread only")


def _record_threads(monkeypatch, names):
    """Replace the named kernel classes or functions by recording wrappers."""
    seen = []
    for name in names:
        original = getattr(_core, name)
        if isinstance(original, type):
            class Recording(original):
                def __init__(self, *args, **kwargs):
                    super().__init__(*args, **kwargs)
                    seen.append((type(self).__name__, self.n_threads))

            Recording.__name__ = name
            monkeypatch.setattr(_core, name, Recording)
        else:
            def recording(*args, _original=original, _name=name, **kwargs):
                seen.append((_name, kwargs.get("n_threads")))
                return _original(*args, **kwargs)

            monkeypatch.setattr(_core, name, recording)
    return seen


def _assert_same_fit(one, two, names):
    for name in names:
        a, b = np.asarray(getattr(one, name)), np.asarray(getattr(two, name))
        scale = np.max(np.abs(a)) if a.size else 0.0
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=RTOL * scale,
                                   err_msg=f"{name}: 2 threads against 1")
    assert one.n_iter_ == two.n_iter_


# max_iter=3 is enough to build every kernel; the short fits warn
@pytest.mark.filterwarnings("ignore:HOAG stopped before convergence")
@pytest.mark.parametrize("n_threads", [1, 2])
def test_n_threads_reaches_the_logistic_kernels(monkeypatch, n_threads):
    seen = _record_threads(monkeypatch, ["BinaryLogistic", "Multinomial"])
    X, y = load_breast_cancer_standardised()
    LogisticRegressionCV(n_threads=n_threads, random_state=0, max_iter=3).fit(X, y)
    X, y = load_wine(return_X_y=True)
    LogisticRegressionCV(n_threads=n_threads, random_state=0, max_iter=3).fit(
        StandardScaler().fit_transform(X), y)
    kinds = {kind for kind, _ in seen}
    assert kinds == {"BinaryLogistic", "Multinomial"}
    assert {nt for _, nt in seen} == {n_threads}


@pytest.mark.filterwarnings("ignore:HOAG stopped before convergence")
@pytest.mark.parametrize("storage", ["full", "kernel", "matrix-free"])
def test_n_threads_reaches_the_rbf_kernels(monkeypatch, storage):
    names = ["squared_distances", "rbf_kernel", "rbf_from_sqdist", "rbf_products",
             "hadamard_matvec", "d2k_matvec", "KernelRidgeOperator"]
    seen = _record_threads(monkeypatch, names)
    X, y = load_diabetes_standardised()
    KernelRidgeCV(n_threads=2, storage=storage, random_state=0, max_iter=3).fit(
        X, y)
    assert seen
    assert {nt for _, nt in seen} == {2}, seen


@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_fit_is_thread_invariant(layout, dtype):
    X, y = load_breast_cancer_standardised()
    X = X.astype(dtype)
    X = sp.csr_matrix(X) if layout == "csr" else X
    fits = [LogisticRegressionCV(n_threads=nt, cv=3, random_state=0).fit(X, y)
            for nt in (1, 2)]
    _assert_same_fit(*fits, ["C_", "coef_", "intercept_", "validation_loss_"])


def test_multinomial_fit_is_thread_invariant():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    fits = [LogisticRegressionCV(n_threads=nt, cv=3, random_state=0).fit(X, y)
            for nt in (1, 2)]
    _assert_same_fit(*fits, ["C_", "coef_", "intercept_", "validation_loss_"])


@pytest.mark.parametrize("storage", ["full", "matrix-free"])
def test_kernel_ridge_fit_is_thread_invariant(storage):
    X, y = load_diabetes_standardised()
    y = (y - y.mean()) / y.std()
    fits = [KernelRidgeCV(n_threads=nt, storage=storage, random_state=0).fit(X, y)
            for nt in (1, 2)]
    _assert_same_fit(*fits, ["gamma_", "alpha_", "dual_coef_", "validation_loss_"])
