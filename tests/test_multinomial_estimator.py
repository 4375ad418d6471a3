"""LogisticRegressionCV with multiclass targets and penalty groups.

References: scikit-learn's multinomial LogisticRegression at the chosen single
C, the softmax written in NumPy, and the shapes and errors the docs promise.
"""

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import hoag.estimators
from hoag import BoundaryWarning, LogisticRegressionCV


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:900] / 16.0, y[:900]


def test_single_C_multinomial_matches_scikit_learn(digits):
    X, y = digits
    model = LogisticRegressionCV(random_state=0, max_iter=30).fit(X, y)
    assert isinstance(model.C_, float)
    assert model.coef_.shape == (10, 64) and model.intercept_.shape == (10,)

    ref = LogisticRegression(C=model.C_, tol=1e-10, max_iter=100_000).fit(X, y)
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-4 * scale)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(
        proba, softmax(X @ model.coef_.T + model.intercept_, axis=1), rtol=1e-12)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba,
                               rtol=1e-10)
    np.testing.assert_array_equal(model.predict(X),
                                  model.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("groups, shape", [
    ("features", (64,)),
    ("coefficients", (10, 64)),
    (np.arange(64) // 8, (8,)),
])
def test_penalty_groups_shapes(digits, groups, shape):
    X, y = digits
    labels = np.array(["d%d" % v for v in y])  # any label type
    model = LogisticRegressionCV(penalty_groups=groups, random_state=0,
                                 max_iter=5, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five iterations do not converge
        model.fit(X, labels)
    assert model.C_.shape == shape
    assert np.all((model.C_ >= 1e-6) & (model.C_ <= 1e6))
    assert model.result_.lam.size == int(np.prod(shape))
    assert set(model.predict(X)) <= set(labels)
    # the penalties moved: the search is not a no-op
    assert np.ptp(model.C_) > 0


def test_binary_gets_the_same_structures():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for groups in ("features", "coefficients"):
        model = LogisticRegressionCV(penalty_groups=groups, random_state=0,
                                     max_iter=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        assert model.C_.shape == (30,)
        assert model.coef_.shape == (1, 30)
        proba = model.predict_proba(X)
        assert proba.shape == (569, 2)


def test_absent_class_is_refused_before_fitting(digits, monkeypatch):
    X, y = digits

    def no_fit(*args, **kwargs):
        raise AssertionError("hoag was called")

    monkeypatch.setattr(hoag.estimators, "hoag", no_fit)
    rest = np.flatnonzero(y != 3)
    cv = [(np.arange(450), np.arange(450, 900)), (rest[:500], rest[500:])]
    with pytest.raises(ValueError, match=r"fold 1: class\(es\) \[3\] have no"):
        LogisticRegressionCV(cv=cv).fit(X, y)


def test_aggregated_boundary_warning(digits):
    X, y = digits
    model = LogisticRegressionCV(penalty_groups="features", C_bounds=(0.5, 2.0),
                                 random_state=0, max_iter=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    bounds = [w for w in caught if issubclass(w.category, BoundaryWarning)]
    assert len(bounds) == 1
    text = str(bounds[0].message)
    assert "of 64 penalties ended on a bound" in text
    assert text.count("C[") <= 10


@pytest.mark.parametrize("groups, match", [
    ("pixels", "penalty_groups must be None"),
    (np.arange(10), "shape"),
    (np.arange(64) * 2, "every label"),
    (np.linspace(0, 1, 64), "integer array"),
])
def test_bad_penalty_groups(digits, groups, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        LogisticRegressionCV(penalty_groups=groups).fit(X, y)
