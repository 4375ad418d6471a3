"""End to end: one penalty per pixel beats the best single C of a 60-point grid.

The criterion is the mean held-out log loss of the model HOAG returns (fitted
on the training part, ``refit=False``), measured here by scikit-learn's
``log_loss`` on its ``predict_proba``; the test loss is reported beside it.

- digits: the single-C grid is computed live with the compiled solver (checked
  against scikit-learn in test_multinomial_problem.py), warm started along C.
- MNIST (5,000 / 2,500 / 2,500 rows of ``mnist_test.npz``): the grid of exact
  scikit-learn fits is slow and comes from ``tests/reference/make_mnist_grid.py``;
  its best point is recomputed here to check that the stored reference holds.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from hoag import LogisticRegressionCV, MultinomialProblem

REFERENCE = Path(__file__).parent / "reference" / "mnist_grid.json"


def per_pixel_hoag(X_train, y_train, X_val, y_val, **params):
    """LogisticRegressionCV with one C per pixel on exactly this split."""
    X = np.vstack([X_train, X_val])
    y = np.concatenate([y_train, y_val])
    n = len(y_train)
    cv = [(np.arange(n), np.arange(n, len(y)))]
    model = LogisticRegressionCV(cv=cv, refit=False, penalty_groups="features",
                                 **params)
    with warnings.catch_warnings():
        # a time budget ends the run before the convergence test
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def test_digits_per_pixel_beats_single_C_grid(record_property):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=0.6, stratify=y, random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=0)

    # 60 exact single-C fits, C log-spaced over [1e-3, 1e3]
    problem = MultinomialProblem(X_train, y_train, X_val, y_val, n_classes=10)
    grid, losses, x = np.logspace(-3, 3, 60), [], None
    for C in grid:
        x, info = problem.inner_solve(np.array([-np.log(C)]), x, 1e-6)
        assert info.converged
        losses.append(problem.outer_value_grad(x, None)[0])
    best = int(np.argmin(losses))
    assert 0 < best < grid.size - 1, "the grid optimum must be interior"
    # the compiled fit at the best C is scikit-learn's
    ref = LogisticRegression(C=grid[best], tol=1e-10, max_iter=100_000)
    ref.fit(X_train, y_train)
    assert log_loss(y_val, ref.predict_proba(X_val)) == pytest.approx(
        losses[best], rel=1e-4)

    model = per_pixel_hoag(X_train, y_train, X_val, y_val, max_time=5.0,
                           max_iter=100)
    val_loss = log_loss(y_val, model.predict_proba(X_val))
    test_loss = log_loss(y_test, model.predict_proba(X_test))
    record_property("digits", dict(grid_val=losses[best], hoag_val=val_loss,
                                   hoag_test=test_loss))
    print(f"digits: best single-C validation loss {losses[best]:.4f}; per-pixel "
          f"HOAG validation {val_loss:.4f}, test {test_loss:.4f}")
    assert model.C_.shape == (64,)
    assert val_loss < losses[best]
    assert model.validation_loss_ == pytest.approx(val_loss, rel=1e-2)
    assert np.isfinite(test_loss)


@pytest.mark.slow
def test_mnist_per_pixel_beats_single_C_grid(require_data, record_property):
    from hoag.datasets import mnist_split

    require_data("mnist_test.npz")
    X_train, y_train, X_val, y_val, X_test, y_test = mnist_split()
    assert (X_train.shape, X_val.shape, X_test.shape) == (
        (5000, 784), (2500, 784), (2500, 784))
    reference = json.loads(REFERENCE.read_text())
    grid = np.array(reference["C"])
    best = int(np.argmin(reference["validation_loss"]))
    assert grid.size == 60 and 0 < best < grid.size - 1

    model = per_pixel_hoag(X_train, y_train, X_val, y_val, max_time=30.0,
                           max_iter=200)
    val_loss = log_loss(y_val, model.predict_proba(X_val))
    test_loss = log_loss(y_test, model.predict_proba(X_test))
    record_property("mnist", dict(grid_val=reference["best_validation_loss"],
                                  grid_test=reference["best_test_loss"],
                                  hoag_val=val_loss, hoag_test=test_loss))
    print(f"MNIST: best single-C validation loss "
          f"{reference['best_validation_loss']:.4f} (test "
          f"{reference['best_test_loss']:.4f}); per-pixel HOAG validation "
          f"{val_loss:.4f}, test {test_loss:.4f}")
    assert model.C_.shape == (784,)
    assert val_loss < reference["best_validation_loss"]
    assert np.isfinite(test_loss)

    # The stored grid still describes this split: its best point, recomputed
    # with the compiled solver at a tight tolerance.
    problem = MultinomialProblem(X_train, y_train, X_val, y_val, n_classes=10)
    x, info = problem.inner_solve(np.array([-np.log(grid[best])]), None, 1e-7)
    assert info.converged
    assert problem.outer_value_grad(x, None)[0] == pytest.approx(
        reference["best_validation_loss"], rel=1e-4)
