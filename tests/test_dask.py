"""Folds on a Dask cluster through joblib's Dask backend: the n_jobs=1 result."""

import warnings

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import make_classification, make_regression

from hoag import KernelRidgeCV, LogisticRegressionCV

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    """A local cluster of two worker processes, one thread each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None,
        )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


def test_krr_on_dask_equals_one_job(client):
    """Kernel ridge folds keep no state beyond x and q: the same search."""
    X, y = make_regression(n_samples=150, n_features=5, noise=5.0, random_state=1)
    X, y = X / X.std(axis=0), y / y.std()
    one = _fit(KernelRidgeCV(cv=3, n_jobs=1), X, y)
    with parallel_config(backend="dask"):
        dask = _fit(KernelRidgeCV(cv=3, n_jobs=2), X, y)
    assert sum(client.run(lambda: 1).values()) == 2
    np.testing.assert_allclose([dask.gamma_, dask.alpha_],
                               [one.gamma_, one.alpha_], rtol=1e-8)
    np.testing.assert_allclose(dask.predict(X), one.predict(X), rtol=1e-8,
                               atol=1e-8)


@pytest.mark.parametrize("schedule", ["exponential", "exact"])
def test_logistic_on_dask_equals_one_job(client, schedule):
    """Logistic folds carry their L-BFGS memory to the workers and back: the
    inexact search takes the same path as in one process."""
    X, y = make_classification(n_samples=300, n_features=10, n_informative=4,
                               random_state=2)
    X = X / X.std(axis=0)
    options = dict(cv=4, schedule=schedule, tol=1e-8, max_iter=200, n_threads=1)
    one = _fit(LogisticRegressionCV(n_jobs=1, **options), X, y)
    with parallel_config(backend="dask"):
        dask = _fit(LogisticRegressionCV(n_jobs=2, **options), X, y)
    assert dask.n_iter_ == one.n_iter_
    assert dask.C_ == pytest.approx(one.C_, rel=1e-8)
    np.testing.assert_allclose(dask.coef_, one.coef_, rtol=1e-8, atol=1e-10)
    assert dask.validation_loss_ == pytest.approx(one.validation_loss_, rel=1e-10)
