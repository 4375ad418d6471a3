"""Per-pixel HOAG on MNIST against a 60-point single-C grid: time and losses.

The split is ``hoag.datasets.mnist_split()`` (5,000 training, 2,500 validation
and 2,500 test images, pixels in [0, 1]). Measured in the same run:

- grid: 60 single-C multinomial fits, C log-spaced over [1e-3, 1e3], with the
  compiled L-BFGS warm started along the path (relative gradient 1e-6), the
  validation loss of each, and the test loss at the best;
- HOAG: ``LogisticRegressionCV(penalty_groups="features")`` on the same split
  (784 hyperparameters), stopped by ``--max-time``; validation and test losses
  of the returned model (fitted on the training part).

Each is repeated ``--repeat`` times; medians are printed with the ratio of the
times. The learned per-pixel penalties are drawn as an image (``--plot``)::

    HOAG_DATA_DIR=../shared/data python bench/bench_multinomial.py \\
        --repeat 3 --max-time 60 --plot mnist_penalties.png
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import log_loss

from hoag import LogisticRegressionCV, MultinomialProblem
from hoag.datasets import mnist_split
from hoag.penalty_plot import plot_penalties

GRID = np.logspace(-3, 3, 60)


def run_grid(X_train, y_train, X_val, y_val, X_test, y_test):
    """Seconds, best C, best validation loss and its test loss of the grid."""
    start = time.perf_counter()
    problem = MultinomialProblem(X_train, y_train, X_val, y_val, n_classes=10)
    losses, solutions, x = [], [], None
    for C in GRID:
        x, _ = problem.inner_solve(np.array([-np.log(C)]), x, 1e-6)
        losses.append(problem.outer_value_grad(x, None)[0])
        solutions.append(x)
    seconds = time.perf_counter() - start
    best = int(np.argmin(losses))
    W, b = problem.coefficients(solutions[best])
    Z = X_test @ W + b
    Z -= Z.max(axis=1, keepdims=True)
    proba = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return seconds, GRID[best], losses[best], log_loss(y_test, proba)


def run_hoag(X_train, y_train, X_val, y_val, X_test, y_test, max_time):
    """Seconds, the fitted model, its validation and test losses."""
    X = np.vstack([X_train, X_val])
    y = np.concatenate([y_train, y_val])
    cv = [(np.arange(len(y_train)), np.arange(len(y_train), len(y)))]
    model = LogisticRegressionCV(cv=cv, refit=False, penalty_groups="features",
                                 max_time=max_time, max_iter=1000)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the time budget ends the run
        model.fit(X, y)
    seconds = time.perf_counter() - start
    return (seconds, model, log_loss(y_val, model.predict_proba(X_val)),
            log_loss(y_test, model.predict_proba(X_test)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-time", type=float, default=60.0)
    parser.add_argument("--plot", default="mnist_penalties.png")
    args = parser.parse_args(argv)

    data = mnist_split()
    grid_runs, hoag_runs = [], []
    for r in range(args.repeat):
        grid_runs.append(run_grid(*data))
        print(f"[{r}] grid: {grid_runs[-1][0]:.1f} s, best C {grid_runs[-1][1]:.4g}, "
              f"validation {grid_runs[-1][2]:.4f}, test {grid_runs[-1][3]:.4f}",
              flush=True)
        hoag_runs.append(run_hoag(*data, args.max_time))
        seconds, model, val, test = hoag_runs[-1]
        print(f"[{r}] HOAG per pixel: {seconds:.1f} s, {model.n_iter_} outer "
              f"iterations, validation {val:.4f}, test {test:.4f}", flush=True)

    grid_time = np.median([g[0] for g in grid_runs])
    hoag_time = np.median([h[0] for h in hoag_runs])
    print(f"\nmedians over {args.repeat} run(s):")
    print(f"  grid (60 single-C fits): {grid_time:.1f} s, validation loss "
          f"{np.median([g[2] for g in grid_runs]):.4f}, test loss "
          f"{np.median([g[3] for g in grid_runs]):.4f}")
    print(f"  HOAG (784 per-pixel C):  {hoag_time:.1f} s, validation loss "
          f"{np.median([h[2] for h in hoag_runs]):.4f}, test loss "
          f"{np.median([h[3] for h in hoag_runs]):.4f}")
    print(f"  time ratio HOAG / grid: {hoag_time / grid_time:.2f}")

    model = hoag_runs[-1][1]
    plot_penalties(model.history_, model.C_, args.plot,
                   title="MNIST, one C per pixel (HOAG)", shape=(28, 28))
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
