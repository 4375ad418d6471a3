"""Compute the 30 x 30 grid of exact kernel ridge solves on Parkinson's.

The reference of ``tests/test_krr_end_to_end.py``: for 30 values of gamma
log-spaced over [1e-3, 1] and 30 of alpha over [1e-4, 10], the exact dual
solution of ``(K + alpha I) c = y`` on the training part of
``hoag.datasets.parkinsons_split()`` and its mean squared error on the
validation part. One eigendecomposition ``K = V diag(s) V^T`` per gamma
(scikit-learn's ``rbf_kernel``, NumPy's ``eigh``) gives all 30 alphas at once.
Takes a minute or two; run it again after a change of the split or the data::

    python tests/reference/make_parkinsons_grid.py

It writes ``parkinsons_grid.json`` beside this file.
"""

import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics.pairwise import rbf_kernel

from hoag.datasets import parkinsons_split

GAMMAS = np.logspace(-3, 0, 30)
ALPHAS = np.logspace(-4, 1, 30)


def grid_mse(X, y, X_val, y_val, gammas, alphas):
    """Validation MSE of the exact solution at every (gamma, alpha)."""
    mse = np.empty((len(gammas), len(alphas)))
    for i, gamma in enumerate(gammas):
        s, V = np.linalg.eigh(rbf_kernel(X, X, gamma=gamma))
        K_val_V = rbf_kernel(X_val, X, gamma=gamma) @ V
        coef = (V.T @ y)[:, None] / (s[:, None] + alphas[None, :])
        mse[i] = np.mean((y_val[:, None] - K_val_V @ coef) ** 2, axis=0)
    return mse


def main():
    start = time.perf_counter()
    X, y, X_val, y_val = parkinsons_split()
    mse = grid_mse(X, y, X_val, y_val, GAMMAS, ALPHAS)
    i, j = np.unravel_index(np.argmin(mse), mse.shape)
    out = dict(
        description="30 x 30 grid of exact kernel ridge solves on "
                    "hoag.datasets.parkinsons_split()",
        gamma=GAMMAS.tolist(),
        alpha=ALPHAS.tolist(),
        validation_mse=mse.tolist(),
        best_gamma=float(GAMMAS[i]),
        best_alpha=float(ALPHAS[j]),
        best_validation_mse=float(mse[i, j]),
        seconds=time.perf_counter() - start,
    )
    path = Path(__file__).with_name("parkinsons_grid.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"best gamma={GAMMAS[i]:.4g} alpha={ALPHAS[j]:.4g} "
          f"mse={mse[i, j]:.10f}; wrote {path}")


if __name__ == "__main__":
    main()
