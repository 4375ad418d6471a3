"""Compute the 60-point single-C grid of exact fits on the MNIST split.

The reference of the MNIST end-to-end test and of ``bench/bench_multinomial.py``:
for 60 values of C, log-spaced over [1e-3, 1e3], scikit-learn's multinomial
LogisticRegression (lbfgs, tol 1e-8, warm started along the path) is fitted on
the training part of ``hoag.datasets.mnist_split()`` and its mean log loss
measured on the validation and test parts. Takes several minutes::

    python tests/reference/make_mnist_grid.py

It writes ``mnist_grid.json`` beside this file.
"""

import json
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from hoag.datasets import mnist_split

GRID = np.logspace(-3, 3, 60)
TOL = 1e-8


def main():
    X_train, y_train, X_val, y_val, X_test, y_test = mnist_split()
    model = LogisticRegression(tol=TOL, max_iter=100_000, warm_start=True)
    losses, test_losses, n_iter = [], [], []
    start = time.perf_counter()
    for C in GRID:
        model.set_params(C=C).fit(X_train, y_train)
        losses.append(log_loss(y_val, model.predict_proba(X_val)))
        test_losses.append(log_loss(y_test, model.predict_proba(X_test)))
        n_iter.append(int(model.n_iter_[0]))
        print(f"C={C:10.4g} val_loss={losses[-1]:.10f} n_iter={n_iter[-1]}",
              flush=True)
    best = int(np.argmin(losses))
    out = dict(
        description="60-point single-C grid of exact multinomial fits on "
        "hoag.datasets.mnist_split()",
        sklearn_version=sklearn.__version__,
        tol=TOL,
        C=GRID.tolist(),
        validation_loss=losses,
        test_loss=test_losses,
        n_iter=n_iter,
        best_C=float(GRID[best]),
        best_validation_loss=float(losses[best]),
        best_test_loss=float(test_losses[best]),
        seconds=time.perf_counter() - start,
    )
    path = Path(__file__).with_name("mnist_grid.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"best C={GRID[best]:.4g} loss={losses[best]:.10f}; wrote {path}")


if __name__ == "__main__":
    main()
