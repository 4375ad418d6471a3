"""LogisticRegressionCV: the scikit-learn contract and the reports of users.

Every reference is independent of the compiled core: scikit-learn's
LogisticRegression (Newton-Cholesky at a tight tolerance) at the same C on the
same rows, scikit-learn's log_loss for the held-out criterion, SciPy's bounded
scalar minimiser over log C for the best C, and NumPy for the gradient norms
quoted in warnings. The data are generated here, seeded.
"""

import math
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit

import hoag
from hoag import BoundaryWarning, LogisticRegressionCV

# Tolerance of the search when a test compares with exact references.
TIGHT = 1e-8
# A number as printed by the "g" format (no trailing sentence dot).
NUM = r"(\d(?:[\d.e+-]*\d)?)"


# ----------------------------------------------------------------------
# Data and scikit-learn references


def make_data(seed=0, n=120, p=30, offset=0.3, noise=1.0):
    """Gaussian features, 3 informative ones, labels {0, 1} of a noisy linear rule.

    With a quarter as many features as rows the held-out loss has an interior
    minimum in C (checked where a test relies on it).
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p)
    w = np.zeros(p)
    w[:3] = rng.randn(3)
    y = (X @ w + offset + noise * rng.randn(n) > 0).astype(int)
    return X, y


def sk_fit(X, y, C, sample_weight=None, fit_intercept=True):
    """scikit-learn's l2 logistic regression at C, solved to machine precision."""
    model = LogisticRegression(
        C=C, solver="newton-cholesky", tol=1e-12, max_iter=500,
        fit_intercept=fit_intercept,
    )
    return model.fit(X, y, sample_weight=sample_weight)


def held_out_loss(X, y, C, splits, sample_weight=None):
    """Mean over splits of the (weighted) held-out log loss of sk_fit at C."""
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
    losses = []
    for train, val in splits:
        model = sk_fit(X[train], y[train], C, sample_weight=sw[train])
        prob = model.predict_proba(X[val])
        losses.append(log_loss(y[val], prob, sample_weight=sw[val],
                               labels=model.classes_))
    return float(np.mean(losses))


def best_C(X, y, splits, sample_weight=None, log_C_range=(-9.0, 5.0)):
    """The C minimising held_out_loss, by bounded Brent search over log C."""
    found = minimize_scalar(
        lambda t: held_out_loss(X, y, math.exp(t), splits, sample_weight),
        bounds=log_C_range, method="bounded", options={"xatol": 1e-7},
    )
    return math.exp(found.x)


def params_of(model):
    """(coef, intercept) as one flat vector."""
    return np.append(np.ravel(model.coef_), model.intercept_)


def rel_diff(model, ref):
    """||params(model) - params(ref)|| / ||params(ref)||."""
    a, b = params_of(model), params_of(ref)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def fit_recording(X, y, sample_weight=None, **params):
    """Fit LogisticRegressionCV and return it with every warning it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LogisticRegressionCV(**params).fit(X, y, sample_weight=sample_weight)
    return model, caught


def messages(caught, category):
    """Messages of the recorded warnings of exactly this category."""
    return [str(w.message) for w in caught if w.category is category]


def one_split(X, y, seed=0):
    """The default split of the estimator, as an explicit (train, val) pair."""
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.25, random_state=seed)
    return next(splitter.split(X, y))


def logistic_gradient(X, y01, C, coef, intercept):
    """Gradient of sum_i log(1 + exp(-y_i z_i)) + 1/(2C) ||w||^2 in (w, b)."""
    y_pm = 2.0 * y01 - 1.0
    z = X @ coef + intercept
    r = -y_pm * expit(-y_pm * z)
    return np.append(X.T @ r + coef / C, r.sum())


@pytest.fixture(scope="module")
def data():
    """The default data set: 120 rows, 30 features, an interior best C."""
    return make_data()


# ----------------------------------------------------------------------
# 1. The scikit-learn API


def test_fitted_attributes(data):
    X, y = data
    model, caught = fit_recording(X, y, random_state=0)
    # A well-posed problem: no convergence, boundary or other user warning.
    user = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not user, user

    assert model.coef_.shape == (1, X.shape[1])
    assert model.intercept_.shape == (1,)
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert model.n_features_in_ == X.shape[1]
    assert isinstance(model.C_, float) and 1e-6 < model.C_ < 1e6
    assert isinstance(model.n_iter_, int) and model.n_iter_ >= 2

    # history_: one dict per outer iteration, C_ among the evaluated points.
    assert isinstance(model.history_, list) and len(model.history_) == model.n_iter_
    assert all(isinstance(record, dict) for record in model.history_)
    assert [r["iteration"] for r in model.history_] == list(range(model.n_iter_))
    C_seen = [math.exp(-r["lam"][0]) for r in model.history_ if r["accepted"]]
    assert min(abs(C - model.C_) for C in C_seen) <= 1e-12 * model.C_
    assert model.history_[0]["lam"][0] == pytest.approx(0.0, abs=1e-15)  # C0 = 1


def test_predictions_are_the_linear_model(data):
    X, y = data
    model = LogisticRegressionCV(random_state=0).fit(X, y)
    X_new = np.random.RandomState(1).randn(50, X.shape[1]) * 2.0

    z = model.decision_function(X_new)
    np.testing.assert_allclose(z, X_new @ model.coef_[0] + model.intercept_[0],
                               rtol=1e-12, atol=1e-12)
    prob = model.predict_proba(X_new)
    assert prob.shape == (50, 2)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(prob[:, 1], expit(z), rtol=1e-14)
    np.testing.assert_allclose(model.predict_log_proba(X_new), np.log(prob),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(model.predict(X_new), (z > 0).astype(int))
    assert model.score(X, y) == accuracy_score(y, (model.decision_function(X) > 0))

    # log probabilities stay finite where the probabilities round to 0 or 1.
    far = model.predict_log_proba(X_new[:2] * 1e4)
    assert np.all(np.isfinite(far)) and np.all(far <= 0)


def test_finds_the_minimiser_of_the_held_out_loss(data):
    X, y = data
    split = one_split(X, y)
    model = LogisticRegressionCV(cv=[split], tol=TIGHT).fit(X, y)

    C_ref = best_C(X, y, [split])
    assert 1e-3 < C_ref < 1e1, "the reference optimum must be interior"
    assert math.log(model.C_) == pytest.approx(math.log(C_ref), abs=1e-3)
    assert model.validation_loss_ == pytest.approx(
        held_out_loss(X, y, model.C_, [split]), rel=1e-7
    )


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_refit_equals_scikit_learn_on_all_data(data, fit_intercept):
    X, y = data
    model = LogisticRegressionCV(random_state=0, fit_intercept=fit_intercept)
    model.fit(X, y)

    ref = sk_fit(X, y, model.C_, fit_intercept=fit_intercept)
    assert rel_diff(model, ref) <= 1e-6
    if not fit_intercept:
        assert model.intercept_[0] == 0.0


@pytest.mark.parametrize("cv", [None, 3])
def test_no_refit_equals_scikit_learn_on_the_training_part(data, cv):
    X, y = data
    model = LogisticRegressionCV(cv=cv, refit=False, tol=TIGHT, random_state=0)
    model.fit(X, y)

    # cv=None: the stratified 25 % split of random_state; cv=3: the first fold.
    if cv is None:
        train, _ = one_split(X, y)
    else:
        train, _ = next(StratifiedKFold(3).split(X, y))
    ref = sk_fit(X[train], y[train], model.C_)
    assert rel_diff(model, ref) <= 1e-6
    # ... and it is not the model of all rows.
    assert rel_diff(model, sk_fit(X, y, model.C_)) > 1e-2


def test_cv_as_int_splitter_and_iterable(data):
    X, y = data
    folds = list(StratifiedKFold(3).split(X, y))
    variants = [3, StratifiedKFold(3), folds, (pair for pair in folds)]
    models = [LogisticRegressionCV(cv=cv, tol=1e-6).fit(X, y) for cv in variants]

    for other in models[1:]:
        assert other.C_ == pytest.approx(models[0].C_, rel=1e-12)
        np.testing.assert_allclose(params_of(other), params_of(models[0]), rtol=1e-12)
    # The criterion is the mean held-out loss over the three folds.
    assert models[0].validation_loss_ == pytest.approx(
        held_out_loss(X, y, models[0].C_, folds), rel=1e-6
    )
    assert math.log(models[0].C_) == pytest.approx(
        math.log(best_C(X, y, folds)), abs=1e-2
    )


def test_a_non_stratified_splitter_is_used_as_given(data):
    X, y = data
    splitter = KFold(4, shuffle=True, random_state=3)
    model = LogisticRegressionCV(cv=splitter, tol=TIGHT).fit(X, y)
    folds = list(splitter.split(X, y))

    assert model.validation_loss_ == pytest.approx(
        held_out_loss(X, y, model.C_, folds), rel=1e-7
    )
    assert math.log(model.C_) == pytest.approx(
        math.log(best_C(X, y, folds)), abs=1e-3
    )


def test_random_state_makes_fits_reproducible(data):
    X, y = data
    first = LogisticRegressionCV(random_state=0).fit(X, y)
    again = LogisticRegressionCV(random_state=0).fit(X, y)
    from_instance = LogisticRegressionCV(random_state=np.random.RandomState(0))
    from_instance.fit(X, y)
    other = LogisticRegressionCV(random_state=1).fit(X, y)

    assert again.C_ == first.C_ == from_instance.C_
    np.testing.assert_array_equal(params_of(again), params_of(first))
    np.testing.assert_array_equal(params_of(from_instance), params_of(first))
    assert abs(math.log(other.C_ / first.C_)) > 1e-2  # another split, another C


@pytest.mark.parametrize("layout", ["C", "F", "float32", "csr"])
def test_inputs_are_not_modified(data, layout):
    X, y = data
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "float32":
        X = X.astype(np.float32)
    elif layout == "csr":
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    sample_weight = np.random.RandomState(2).uniform(0.5, 2.0, len(y))
    copies = (X.copy(), y.copy(), sample_weight.copy())
    bounds = [1e-4, 1e4]
    model = LogisticRegressionCV(C_bounds=bounds, cv=3)
    params = clone(model).get_params()

    model.fit(X, y, sample_weight=sample_weight)

    X_after = X.toarray() if sp.issparse(X) else X
    X_before = copies[0].toarray() if sp.issparse(X) else copies[0]
    np.testing.assert_array_equal(X_after, X_before)
    assert X_after.dtype == X_before.dtype
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(sample_weight, copies[2])
    assert bounds == [1e-4, 1e4]
    assert model.get_params() == params


def test_csr_input_gives_the_dense_model(data):
    X, y = data
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    dense = LogisticRegressionCV(cv=3, tol=1e-6).fit(X, y)
    sparse = LogisticRegressionCV(cv=3, tol=1e-6).fit(sp.csr_matrix(X), y)

    assert sparse.C_ == pytest.approx(dense.C_, rel=1e-8)
    np.testing.assert_allclose(params_of(sparse), params_of(dense), rtol=1e-7,
                               atol=1e-9)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X)),
                               dense.predict_proba(X), rtol=1e-7)


# ----------------------------------------------------------------------
# 2. Users' reports


def test_badly_scaled_features_report_the_capped_solves():
    # Features on scales 1e-3 ... 1e3 make L-BFGS crawl; a cap of 50
    # iterations bites, and the warnings must say where and how badly.
    rng = np.random.RandomState(0)
    Z = rng.randn(200, 8)
    y = (Z @ rng.randn(8) + rng.randn(200) > 0).astype(int)
    X = Z * np.logspace(-3, 3, 8)
    train, val = one_split(X, y)
    max_inner_iter = 50
    model, caught = fit_recording(X, y, cv=[(train, val)],
                                  max_inner_iter=max_inner_iter)
    found = messages(caught, ConvergenceWarning)

    # The search: count, worst C, iterations, gradient norm.
    pattern = (rf"(\d+) of (\d+) L-BFGS solves stopped before their tolerance; "
               rf"worst at C={NUM}: (\d+) iterations, relative residual {NUM} "
               rf"\(gradient norm about {NUM}\)")
    search = [m for m in (re.search(pattern, text) for text in found) if m]
    assert len(search) == 1, found
    n_failed, n_total, C, n_it, residual, gnorm = search[0].groups()
    failed = [r for r in model.history_
              if r["inner_iter"] > 0 and not r["inner_converged"]]
    assert int(n_failed) == len(failed) > 0
    assert int(n_total) == len(model.history_)
    # The worst solve is the one furthest from its own tolerance.
    worst = max(failed, key=lambda r: r["inner_residual"] / r["eps"])
    assert C == f"{math.exp(-worst['lam'][0]):.4g}"
    assert int(n_it) == worst["inner_iter"] <= max_inner_iter
    assert residual == f"{worst['inner_residual']:.3g}"
    # The gradient norm is the relative residual times ||grad h(0)|| on the
    # training rows, whatever C (the penalty gradient vanishes at 0).
    y_pm = 2.0 * y[train] - 1.0
    scale = np.linalg.norm(np.append(X[train].T @ (-0.5 * y_pm), -0.5 * y_pm.sum()))
    # Both are printed to 3 significant digits: up to 5e-3 apart each.
    assert float(gnorm) == pytest.approx(float(residual) * scale, rel=1e-2)

    # The refit on all rows: its C, iterations and the true gradient norm.
    pattern = (rf"the refit at C={NUM} stopped before its tolerance \(maximum "
               rf"number of iterations reached\): (\d+) L-BFGS iterations, "
               rf"gradient norm {NUM} against a target of {NUM}")
    refit = [m for m in (re.search(pattern, text) for text in found) if m]
    assert len(refit) == 1, found
    C, n_it, gnorm, target = refit[0].groups()
    assert C == f"{model.C_:.4g}"
    assert int(n_it) == max_inner_iter
    # h of the estimator is the data term + alpha/2 ||w||^2, alpha = 1/C:
    # its gradient is the data gradient + w / C.
    grad = logistic_gradient(X, y, model.C_, model.coef_[0], model.intercept_[0])
    assert float(gnorm) == pytest.approx(np.linalg.norm(grad), rel=5e-3)
    assert float(gnorm) > float(target)


def test_standardised_features_do_not_warn():
    rng = np.random.RandomState(0)
    Z = rng.randn(200, 8)
    y = (Z @ rng.randn(8) + rng.randn(200) > 0).astype(int)
    _, caught = fit_recording(Z, y, random_state=0, max_inner_iter=50)
    assert not messages(caught, ConvergenceWarning)


def separable_data(seed=0, n=100, p=4):
    """Feature 0 decides the label, with a gap: |x_0| >= 1, other features small."""
    rng = np.random.RandomState(seed)
    sign = np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    X = 0.3 * rng.randn(n, p)
    X[:, 0] = sign * (1.0 + rng.rand(n))
    return X, (sign > 0).astype(int)


@pytest.mark.parametrize("upper", [1e6, 1e3])
def test_separable_data_drive_C_to_the_upper_bound(upper):
    X, y = separable_data()
    split = one_split(X, y)
    # The exact held-out loss does fall all the way to the bound.
    losses = [held_out_loss(X, y, C, [split]) for C in (upper / 100, upper / 10)]
    assert losses[1] < losses[0]

    model, caught = fit_recording(X, y, cv=[split], C_bounds=(1e-6, upper))

    assert model.C_ == pytest.approx(upper, rel=1e-12)
    found = messages(caught, BoundaryWarning)
    assert len(found) == 1, [str(w.message) for w in caught]
    assert re.search(r"on the upper bound of C_bounds", found[0])
    assert re.search(r"separable", found[0])
    assert "lower bound" not in found[0]
    assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_[0])
    assert model.score(X, y) == 1.0
    assert not messages(caught, ConvergenceWarning)


@pytest.mark.parametrize("side, bounds, C0", [
    ("lower", (1.0, 100.0), 10.0),     # best C about 0.04 lies below
    ("upper", (1e-5, 1e-3), 1e-4),     # ... and above
])
def test_optimum_outside_the_bounds_names_the_bound(data, side, bounds, C0):
    X, y = data
    split = one_split(X, y)
    C_ref = best_C(X, y, [split])
    assert not bounds[0] <= C_ref <= bounds[1]

    model, caught = fit_recording(X, y, cv=[split], C_bounds=bounds, C0=C0)

    expected = bounds[0] if side == "lower" else bounds[1]
    assert model.C_ == pytest.approx(expected, rel=1e-12)
    found = messages(caught, BoundaryWarning)
    assert len(found) == 1, [str(w.message) for w in caught]
    other = "upper" if side == "lower" else "lower"
    assert re.search(rf"C_={expected:.4g} is on the {side} bound", found[0])
    assert f"{other} bound" not in found[0]
    # The held-out loss does decrease beyond the bound that was hit.
    beyond = expected * (0.9 if side == "lower" else 1.1)
    assert held_out_loss(X, y, beyond, [split]) < held_out_loss(X, y, expected, [split])


def test_an_unfinished_search_says_so(data):
    X, y = data
    model, caught = fit_recording(X, y, random_state=0, max_iter=2)
    found = messages(caught, ConvergenceWarning)

    assert model.n_iter_ == 2
    assert len(found) == 1, found
    match = re.search(rf"HOAG stopped before convergence: maximum number of "
                      rf"iterations reached \(max_iter=2\); C={NUM}, validation "
                      rf"loss {NUM}", found[0])
    assert match, found[0]
    assert match.group(1) == f"{model.C_:.4g}"
    assert float(match.group(2)) == pytest.approx(model.validation_loss_, rel=1e-5)


@pytest.mark.parametrize("max_iter", [3, 4, 5, 7])
def test_an_early_stop_reports_the_loss_at_its_C(max_iter):
    # Scaled breast cancer, nearly separable: at the first iterations' loose
    # solves the validation loss can be four times off (0.0856 was reported
    # at C = 312, whose exact loss is 0.368). The point returned is re-solved
    # at eps = tol = 1e-4; at so large a C that still leaves a few per cent
    # (0.351 against 0.368 at max_iter=5; under 1 % at 3 and 4).
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegressionCV(random_state=0, max_iter=max_iter).fit(X, y)
    exact = held_out_loss(X, y, model.C_, [one_split(X, y)])

    assert model.n_iter_ == max_iter
    assert model.validation_loss_ == pytest.approx(exact, rel=0.1)


def test_label_encodings_give_the_same_model(data):
    X, y = data
    folds = list(StratifiedKFold(3).split(X, y))
    encodings = {
        "01": y,
        "pm1": np.where(y == 1, 1, -1),
        "str": np.where(y == 1, "yes", "no"),
        "object": np.where(y == 1, "yes", "no").astype(object),
    }
    models = {key: LogisticRegressionCV(cv=folds).fit(X, labels)
              for key, labels in encodings.items()}

    ref = models["01"]
    for key, model in models.items():
        assert model.C_ == pytest.approx(ref.C_, rel=1e-10), key
        np.testing.assert_allclose(params_of(model), params_of(ref), rtol=1e-10,
                                   err_msg=key)
        labels = encodings[key]
        predicted = model.predict(X)
        assert predicted.dtype == labels.dtype, key
        np.testing.assert_array_equal(model.classes_, np.unique(labels))
        np.testing.assert_array_equal(
            predicted, np.unique(labels)[ref.predict(X)]
        )

    # Labels whose sort order swaps the classes give the negated model.
    swapped = LogisticRegressionCV(cv=folds).fit(X, np.where(y == 1, "ham", "spam"))
    np.testing.assert_array_equal(swapped.classes_, ["ham", "spam"])
    assert swapped.C_ == pytest.approx(ref.C_, rel=1e-10)
    np.testing.assert_allclose(params_of(swapped), -params_of(ref), rtol=1e-8)
    np.testing.assert_allclose(swapped.predict_proba(X)[:, ::-1],
                               ref.predict_proba(X), rtol=1e-8)


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_stays_float32_in_the_kernels(data, monkeypatch, sparse):
    X64, y = data
    X32 = X64.astype(np.float32)
    if sparse:
        X32 = sp.csr_matrix(X32)
    made = []
    real = hoag._core.BinaryLogistic

    def recording(*args, **kwargs):
        objective = real(*args, **kwargs)
        made.append(objective)
        return objective

    monkeypatch.setattr(hoag._core, "BinaryLogistic", recording)
    model32 = LogisticRegressionCV(cv=3, tol=1e-6).fit(X32, y)
    kernels32, made[:] = list(made), []
    model64 = LogisticRegressionCV(cv=3, tol=1e-6).fit(X32.astype(np.float64), y)

    # Three folds (training and validation) and the refit.
    assert len(kernels32) == 7 and len(made) == 7
    assert all(kernel.rows.is32 for kernel in kernels32)
    assert not any(kernel.rows.is32 for kernel in made)
    assert all(kernel.rows.csr == sparse for kernel in kernels32)
    assert model32.C_ == pytest.approx(model64.C_, rel=1e-4)
    assert rel_diff(model32, model64) <= 1e-4


def test_intercept_is_not_penalised_with_a_shifted_class_rate():
    # About 90 % positives: a penalised intercept would be pulled to 0.
    X, y = make_data(seed=2, offset=2.5)
    assert 0.85 < y.mean() < 0.97
    train, val = one_split(X, y)
    tuned = LogisticRegressionCV(cv=[(train, val)], refit=False, tol=TIGHT)
    tuned.fit(X, y)
    refit = LogisticRegressionCV(cv=[(train, val)], tol=TIGHT).fit(X, y)

    ref_train = sk_fit(X[train], y[train], tuned.C_)
    assert rel_diff(tuned, ref_train) <= 1e-6
    assert rel_diff(refit, sk_fit(X, y, refit.C_)) <= 1e-6
    # The reference could tell: an intercept penalised like the weights (a
    # column of ones, no free intercept) gives a clearly different model.
    ones = np.hstack([X[train], np.ones((len(train), 1))])
    penalised = sk_fit(ones, y[train], tuned.C_, fit_intercept=False)
    assert np.linalg.norm(penalised.coef_[0] - params_of(ref_train)) > 1e-2 * (
        np.linalg.norm(params_of(ref_train)))


def test_shifting_the_features_changes_only_the_intercept(data):
    # z = X w + b = (X + c) w + (b - c.w): with b free (unpenalised) the
    # objective at every C is the same function of the shifted parameters, so
    # w is unchanged and b moves by -c.w, in the search and in the refit.
    X, y = data
    c = np.random.RandomState(4).uniform(-3.0, 3.0, X.shape[1])
    folds = list(StratifiedKFold(3).split(X, y))
    fixed = dict(C0=0.05, C_bounds=(0.05, 0.05), cv=folds, tol=1e-9)
    for refit in (False, True):
        plain = LogisticRegressionCV(refit=refit, **fixed).fit(X, y)
        shifted = LogisticRegressionCV(refit=refit, **fixed).fit(X + c, y)
        scale = np.linalg.norm(plain.coef_)
        np.testing.assert_allclose(shifted.coef_, plain.coef_, rtol=0,
                                   atol=1e-6 * scale)
        assert shifted.intercept_[0] == pytest.approx(
            plain.intercept_[0] - c @ plain.coef_[0], abs=1e-6 * scale
        )
        assert shifted.validation_loss_ == pytest.approx(plain.validation_loss_,
                                                         rel=1e-8)

    # Tuned C: the criterion is the same function of C, so is its minimiser.
    plain = LogisticRegressionCV(cv=folds, tol=TIGHT).fit(X, y)
    shifted = LogisticRegressionCV(cv=folds, tol=TIGHT).fit(X + c, y)
    assert shifted.C_ == pytest.approx(plain.C_, rel=1e-4)


# ----------------------------------------------------------------------
# 3. Bad input


def test_non_finite_X_is_rejected(data):
    X, y = data
    for value, name in [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")]:
        bad = X.copy()
        bad[3, 2] = value
        with pytest.raises(ValueError, match=f"Input X contains {name}"):
            LogisticRegressionCV().fit(bad, y)


@pytest.mark.parametrize("y_bad, match", [
    (np.zeros(120, dtype=int), r"two classes; y has only one class: 0$"),
    (np.full(120, "yes"), r"two classes; y has only one class: 'yes'$"),
    (np.linspace(0.0, 1.0, 120), r"Unknown label type"),
    (np.append(np.zeros(119), np.nan), r"Input y contains NaN"),
])
def test_bad_targets_are_rejected(data, y_bad, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        LogisticRegressionCV().fit(X, y_bad)


def test_empty_and_mismatched_inputs_are_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        LogisticRegressionCV().fit(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        LogisticRegressionCV().fit(np.zeros((120, 0)), y)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples"):
        LogisticRegressionCV().fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(119,\)"):
        LogisticRegressionCV().fit(X, y, sample_weight=np.ones(119))
    with pytest.raises(ValueError, match=r"Negative values .* `sample_weight`"):
        LogisticRegressionCV().fit(X, y, sample_weight=np.where(y == 1, -1.0, 1.0))


def test_prediction_checks_the_number_of_features(data):
    X, y = data
    model = LogisticRegressionCV(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"has 29 features.*expecting 30"):
        model.predict(X[:, 1:])
    with pytest.raises(ValueError, match=r"not fitted"):
        LogisticRegressionCV().predict_proba(X)


@pytest.mark.parametrize("params, match", [
    (dict(C0=-1.0), r"C0 must be a positive finite float, got -1.0"),
    (dict(C0=0.0), r"C0 must be a positive finite float"),
    (dict(C0=np.nan), r"C0 must be a positive finite float, got nan"),
    (dict(C0=np.inf), r"C0 must be a positive finite float"),
    (dict(C0="1"), r"C0 must be a positive finite float, got '1'"),
    (dict(C0=1e7), r"C0=10000000.0 lies outside C_bounds=\(1e-06, 1000000.0\)"),
    (dict(C0=0.5, C_bounds=(1.0, 10.0)), r"C0=0.5 lies outside C_bounds"),
    (dict(C_bounds=(-1.0, 10.0)), r"C_bounds must satisfy 0 < lower <= upper"),
    (dict(C_bounds=(0.0, 10.0)), r"C_bounds must satisfy 0 < lower <= upper"),
    (dict(C_bounds=(10.0, 0.1)), r"C_bounds must satisfy 0 < lower <= upper.*"
                                 r"\(10.0, 0.1\)"),
    (dict(C_bounds=(1.0, np.inf)), r"upper < inf"),
    (dict(C_bounds=(1.0, np.nan)), r"C_bounds must satisfy"),
    (dict(C_bounds=(1.0, 2.0, 3.0)), r"C_bounds must be a pair of positive floats"),
    (dict(C_bounds=5.0), r"C_bounds must be a pair of positive floats"),
    (dict(C_bounds=("a", "b")), r"C_bounds must be a pair of positive floats"),
    (dict(max_inner_iter=0), r"max_inner_iter must be a positive integer, got 0"),
    (dict(max_inner_iter=-5), r"max_inner_iter must be a positive integer"),
    (dict(max_inner_iter=2.5), r"max_inner_iter must be a positive integer"),
    (dict(max_inner_iter="100"), r"max_inner_iter must be a positive integer"),
    (dict(max_inner_iter=None), r"max_inner_iter must be a positive integer"),
    (dict(max_inner_iter=True), r"max_inner_iter must be a positive integer"),
    (dict(C0=True), r"C0 must be a positive finite float, got True"),
    (dict(max_iter=0), r"max_iter must be an integer >= 1"),
    (dict(schedule="linear"), r"schedule must be one of"),
    (dict(tol=-1.0), r"tol must be a non-negative finite float"),
])
def test_bad_parameters_are_rejected(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        LogisticRegressionCV(**params).fit(X, y)


def test_folds_with_one_training_class_are_rejected(data):
    X, y = data
    order = np.argsort(y, kind="stable")
    n_neg = int(np.sum(y == 0))
    pair = (order[:n_neg], order[n_neg:])  # train on negatives only
    with pytest.raises(ValueError, match=r"fold 0: the training part holds a "
                                         r"single class"):
        LogisticRegressionCV(cv=[pair]).fit(X, y)


# ----------------------------------------------------------------------
# 4. Sample weights


def test_integer_weights_equal_row_duplication(data):
    X, y = data
    rng = np.random.RandomState(5)
    counts = rng.randint(0, 4, len(y))  # 0 drops a row, 3 triples it
    rows = np.repeat(np.arange(len(y)), counts)
    starts = np.cumsum(counts) - counts

    def expand(idx):
        """Positions in the duplicated data of the copies of rows idx."""
        return np.concatenate([starts[i] + np.arange(counts[i]) for i in idx])

    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    folds_dup = [(expand(train), expand(val)) for train, val in folds]
    weighted = LogisticRegressionCV(cv=folds, tol=TIGHT).fit(
        X, y, sample_weight=counts)
    duplicated = LogisticRegressionCV(cv=folds_dup, tol=TIGHT).fit(X[rows], y[rows])

    assert weighted.C_ == pytest.approx(duplicated.C_, rel=1e-6)
    assert rel_diff(weighted, duplicated) <= 1e-6
    assert weighted.validation_loss_ == pytest.approx(duplicated.validation_loss_,
                                                      rel=1e-8)
    # Both are the weighted criterion of scikit-learn, and the weights matter.
    assert weighted.validation_loss_ == pytest.approx(
        held_out_loss(X, y, weighted.C_, folds, sample_weight=counts), rel=1e-7
    )
    assert rel_diff(weighted, sk_fit(X, y, weighted.C_, sample_weight=counts)) <= 1e-6
    unweighted = LogisticRegressionCV(cv=folds, tol=TIGHT).fit(X, y)
    assert abs(math.log(unweighted.C_ / weighted.C_)) > 1e-2


# ----------------------------------------------------------------------
# Interrupted fits


def _interrupt_after(monkeypatch, n_calls):
    """Make the n-th LogisticProblem.inner_solve of the process raise Ctrl-C."""
    from hoag.models.logistic import LogisticProblem

    original = LogisticProblem.inner_solve
    calls = {"n": 0}

    def inner_solve(self, lam, x0, tol):
        calls["n"] += 1
        if calls["n"] == n_calls:
            raise KeyboardInterrupt
        return original(self, lam, x0, tol)

    monkeypatch.setattr(LogisticProblem, "inner_solve", inner_solve)
    return calls


@pytest.mark.parametrize("cv, n_jobs, per_iteration", [(None, None, 1), (3, 2, 3)])
def test_interrupted_fit_keeps_the_best_point(monkeypatch, cv, n_jobs,
                                              per_iteration):
    X, y = make_data()
    _interrupt_after(monkeypatch, 4 * per_iteration + 1)
    model = LogisticRegressionCV(cv=cv, n_jobs=n_jobs, random_state=0)
    with pytest.warns(hoag.InterruptedWarning, match="fitted at C="):
        model.fit(X, y)

    # Four complete outer iterations, the best of them kept and refitted.
    assert model.result_.interrupted and model.n_iter_ == 4
    values = [r["value"] if r["accepted"] else np.inf for r in model.history_]
    best = model.history_[int(np.argmin(values))]
    assert model.C_ == pytest.approx(math.exp(-best["lam"][0]), rel=1e-12)
    ref = sk_fit(X, y, model.C_)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-5, atol=1e-7)


def test_interrupt_before_the_first_point_propagates(monkeypatch):
    X, y = make_data()
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        LogisticRegressionCV().fit(X, y)
