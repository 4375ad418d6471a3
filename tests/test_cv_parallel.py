"""Parallel folds (joblib threads and processes) and scikit-learn compatibility."""

import pickle
import threading
import warnings

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info, threadpool_limits

from hoag import KernelRidgeCV, LogisticRegressionCV
from hoag._cv import MeanOverFolds, fold_threads
from hoag.models import LogisticProblem


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(n_samples=240, n_features=12, n_informative=5,
                               random_state=0)
    return X, y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)
    return X / X.std(axis=0), y / y.std()


def _quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(*args, **kwargs)


def test_two_jobs_give_the_one_job_result(classification):
    """Threads change nothing but the order of work: same C_ and coef_."""
    X, y = classification
    one = _quiet(LogisticRegressionCV(cv=4, n_jobs=1), X, y)
    two = _quiet(LogisticRegressionCV(cv=4, n_jobs=2), X, y)
    assert two.C_ == pytest.approx(one.C_, rel=1e-8)
    np.testing.assert_allclose(two.coef_, one.coef_, rtol=1e-7, atol=1e-10)


def test_process_backend_gives_the_one_job_result(regression):
    """loky ships each fold to a worker process and back (KRR has no hidden
    warm state, so the search is the same)."""
    X, y = regression
    one = _quiet(KernelRidgeCV(cv=3, n_jobs=1), X, y)
    with parallel_config(backend="loky"):
        two = _quiet(KernelRidgeCV(cv=3, n_jobs=2), X, y)
    assert two.gamma_ == pytest.approx(one.gamma_, rel=1e-8)
    assert two.alpha_ == pytest.approx(one.alpha_, rel=1e-8)
    np.testing.assert_allclose(two.predict(X), one.predict(X), rtol=1e-8,
                               atol=1e-10)


def test_parallel_folds_equal_the_sum_of_the_folds(classification):
    """MeanOverFolds with two jobs returns each fold's own solve, in order."""
    X, y = classification
    y_pm = np.where(y == 1, 1.0, -1.0)
    problems = [LogisticProblem(X[k::3].copy()[:60], y_pm[k::3][:60],
                                X[k::3].copy()[60:], y_pm[k::3][60:])
                for k in range(3)]
    lam = np.array([0.5])
    x_par, _ = MeanOverFolds(problems, n_jobs=2).inner_solve(lam, None, 1e-10)
    for problem, x_f in zip(problems, x_par):
        fresh = LogisticProblem(**problem._arguments)
        x_ref, _ = fresh.inner_solve(lam, None, 1e-10)
        np.testing.assert_allclose(x_f, x_ref, atol=1e-7)


class _RecordingProblem(LogisticProblem):
    """Records, at each inner solve, the thread it runs on, the BLAS thread
    counts and the compiled kernels' thread count."""

    def __init__(self, *args, seen, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = seen

    def inner_solve(self, lam, x0, tol):
        blas = [pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"]
        self.seen.append((threading.get_ident(), blas, self.train.n_threads))
        return super().inner_solve(lam, x0, tol)


def test_two_jobs_run_one_thread_each(classification):
    """Two jobs on two cores: each fold runs on one kernel and one BLAS thread,
    so n_jobs alone decides how many cores are busy."""
    X, y = classification
    y_pm = np.where(y == 1, 1.0, -1.0)
    seen = []
    n_threads = fold_threads(None, 2, 3)
    problems = [_RecordingProblem(X[k::3][:60], y_pm[k::3][:60], X[k::3][60:],
                                  y_pm[k::3][60:], n_threads=n_threads, seen=seen)
                for k in range(3)]
    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info()
                if pool["user_api"] == "blas"]

    # Two BLAS threads outside, so that the one inside is the folds' limit.
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        MeanOverFolds(problems, n_jobs=2).inner_solve(np.array([0.5]), None, 1e-6)
        after = blas_threads()

    assert before and set(before) == {2}
    assert len(seen) == 3
    assert all(kernel_threads == 1 for _, _, kernel_threads in seen)
    assert all(set(blas) == {1} for _, blas, _ in seen), seen
    assert threading.get_ident() not in {ident for ident, _, _ in seen}
    # The limit ends with the batch.
    assert after == before


def test_fold_threads():
    assert fold_threads(None, 2, 5) == 1
    assert fold_threads(None, 1, 5) is None
    assert fold_threads(None, 2, 1) is None
    assert fold_threads(3, 2, 5) == 3
    with pytest.raises(ValueError, match="n_threads"):
        fold_threads(0, 1, 5)


def test_problems_pickle_to_the_same_solution(classification):
    X, y = classification
    y_pm = np.where(y == 1, 1.0, -1.0)
    problem = LogisticProblem(X[:150], y_pm[:150], X[150:], y_pm[150:])
    copy = pickle.loads(pickle.dumps(problem))
    lam = np.array([-1.0])
    np.testing.assert_array_equal(copy.inner_solve(lam, None, 1e-10)[0],
                                  problem.inner_solve(lam, None, 1e-10)[0])


@pytest.mark.parametrize("make", [
    lambda: LogisticRegressionCV(cv=3),
    lambda: KernelRidgeCV(cv=3),
])
def test_pickle_gives_the_same_predictions(make, classification):
    X, y = classification
    model = _quiet(make(), X, y)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))


def test_warm_start_starts_from_the_previous_fit(classification):
    """A second fit on the same data starts at the previous C_ and fold
    solutions: its first inner solve has nothing to do, where a cold start at
    the same C_ needs L-BFGS iterations."""
    X, y = classification
    model = _quiet(LogisticRegressionCV(cv=3, warm_start=True, tol=1e-6), X, y)
    first_c = model.C_
    _quiet(model, X, y)
    cold = _quiet(LogisticRegressionCV(cv=3, C0=first_c, tol=1e-6), X, y)
    assert model.history_[0]["lam"][0] == pytest.approx(-np.log(first_c))
    assert model.history_[0]["inner_iter"] == 0
    assert cold.history_[0]["inner_iter"] > 0
    assert model.C_ == pytest.approx(first_c, rel=1e-3)


def test_krr_warm_start(regression):
    X, y = regression
    model = _quiet(KernelRidgeCV(cv=3, warm_start=True), X, y)
    gamma, alpha = model.gamma_, model.alpha_
    _quiet(model, X, y)
    np.testing.assert_allclose(np.exp(model.history_[0]["lam"]), [gamma, alpha])


def test_pipeline_clone_gridsearch_cross_val_score(classification):
    X, y = classification
    pipe = make_pipeline(StandardScaler(), LogisticRegressionCV(cv=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(clone(pipe), X, y, cv=3)
        search = GridSearchCV(
            pipe, {"logisticregressioncv__fit_intercept": [True, False]}, cv=3
        ).fit(X, y)
    assert scores.shape == (3,) and np.all(scores > 0.6)
    assert search.best_params_["logisticregressioncv__fit_intercept"] in (True,
                                                                           False)


def test_groups_reach_the_splitter(classification):
    """With GroupKFold no group is on both sides of any fold."""
    X, y = classification
    groups = np.arange(len(y)) % 6
    model = _quiet(LogisticRegressionCV(cv=GroupKFold(3)), X, y, groups=groups)
    assert model.n_iter_ >= 1
    with pytest.raises(ValueError, match="groups"):
        LogisticRegressionCV(cv=GroupKFold(3)).fit(X, y)


def test_feature_names_in(classification):
    pd = pytest.importorskip("pandas")
    X, y = classification
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = _quiet(LogisticRegressionCV(cv=3), frame, y)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    assert model.n_features_in_ == X.shape[1]


def _expected_failures(estimator):
    """Checks that cannot hold for a cross-validated estimator, with why.

    KernelRidgeCV passes scikit-learn's weight-equivalence check as it stands
    (its data are small enough that both fits reach the same point); it is
    not exempted, so a change that breaks it is seen.
    """
    if isinstance(estimator, KernelRidgeCV):
        return {}
    why = ("the folds are drawn over rows: a row of weight 2 lies in one fold "
           "where its two copies may be split between training and validation, "
           "so the tuned hyperparameters (and the model) differ")
    return {f"check_sample_weight_equivalence_on_{kind}_data": why
            for kind in ("dense", "sparse")}


@parametrize_with_checks([LogisticRegressionCV(cv=3, max_iter=20),
                          KernelRidgeCV(cv=3, max_iter=20)],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
