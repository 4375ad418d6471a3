"""The tuning problems of the benchmark suite: data, exact fits and losses.

A task holds one fixed train / validation / test split and knows, for a point
``lam`` of hoag's hyperparameter space (log penalties, log kernel width):

- ``fitter()``: a function ``fit(lam) -> (validation loss, model)`` that fits
  the model the baselines use at ``lam`` (scikit-learn where it exists), warm
  started from the previous call where the solver allows it;
- ``test_loss(model)``: the loss of that model on the test part;
- ``hoag_problem(lam0)``: the HOAG problem on the same train / validation rows,
  and ``hoag_test_loss(problem, x, lam)`` for an inner solution ``x``;
- ``fit_time(lam)``: the seconds of one exact fit at ``lam`` (t_fit).

Every validation (test) loss of a task is the same function of the model: the
mean log loss of the validation (test) rows for logistic and multinomial
regression, the mean squared error for kernel ridge; it is what hoag's
problems compute as the criterion ``g``.
"""

import math
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import rbf_kernel

from hoag.models import KernelRidgeProblem, LogisticProblem, MultinomialProblem

# Tolerance of the baselines' fits: scikit-learn's lbfgs gradient tolerance for
# logistic regression, the relative gradient norm of the compiled L-BFGS for the
# multinomial grid (as in bench_logistic.py and bench_multinomial.py).
FIT_TOL = 1e-6
FIT_MAX_ITER = 1000


def binary_log_loss(w, b, X, y):
    """Mean logistic loss ``1/n sum_i log(1 + exp(-y_i (a_i . w + b)))``."""
    return float(np.logaddexp(0.0, -y * (X @ w + b)).mean())


def multinomial_log_loss(W, b, X, y):
    """Mean multinomial log loss ``1/n sum_i (logsumexp(z_i) - z_i[y_i])``,
    ``z_i = a_i W + b``."""
    Z = X @ W + b
    top = Z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
    return float((lse - Z[np.arange(len(y)), y]).mean())


def median_seconds(fn, repeat):
    """Median wall time of ``repeat`` calls of ``fn()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class Task:
    """Common parts: the split, the box of ``lam`` and hoag's start.

    Parameters
    ----------
    name : str
    data : tuple
        ``X_train, y_train, X_val, y_val, X_test, y_test``.
    low, high : sequence of float
        Box of ``lam`` searched by every method.
    lam0 : sequence of float
        hoag's start (the library default where there is one).
    names : sequence of str
        Name of each coordinate of ``lam``, for the search libraries.
    """

    kind = None

    def __init__(self, name, data, low, high, lam0, names):
        self.name = name
        self.X_train, self.y_train, self.X_val, self.y_val = data[:4]
        self.X_test, self.y_test = data[4:]
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)
        self.lam0 = np.asarray(lam0, dtype=float)
        self.names = tuple(names)

    @property
    def bounds(self):
        """The box as an ``(m, 2)`` array, hoag's ``bounds``."""
        return np.column_stack([self.low, self.high])

    def sizes(self):
        """Rows of each part and the number of features, for the report."""
        return dict(n_train=self.X_train.shape[0], n_val=self.X_val.shape[0],
                    n_test=self.X_test.shape[0], n_features=self.X_train.shape[1])


class LogisticTask(Task):
    """Binary l2-logistic regression, ``lam = log(1/C)``.

    The baselines fit scikit-learn's ``LogisticRegression`` (lbfgs,
    ``tol=1e-6``), warm started from the previous fit of the same search.
    """

    kind = "logistic"

    def fitter(self):
        model = LogisticRegression(C=1.0, tol=FIT_TOL, max_iter=FIT_MAX_ITER,
                                   warm_start=True)

        def fit(lam):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.set_params(C=math.exp(-float(lam[0]))).fit(
                    self.X_train, self.y_train)
            w, b = model.coef_[0].copy(), float(model.intercept_[0])
            return binary_log_loss(w, b, self.X_val, self.y_val), (w, b)

        return fit

    def test_loss(self, model):
        return binary_log_loss(*model, self.X_test, self.y_test)

    def hoag_problem(self, lam0):
        return LogisticProblem(self.X_train, self.y_train, self.X_val, self.y_val)

    def hoag_test_loss(self, problem, x, lam):
        return binary_log_loss(x[:-1], x[-1], self.X_test, self.y_test)

    def fit_time(self, lam, repeat):
        """One cold scikit-learn fit at ``lam`` (the baselines' fit)."""
        def fit():
            LogisticRegression(C=math.exp(-float(lam[0])), tol=FIT_TOL,
                               max_iter=FIT_MAX_ITER).fit(self.X_train, self.y_train)

        return median_seconds(fit, repeat)


class KernelRidgeTask(Task):
    """RBF kernel ridge regression, ``lam = (log gamma, log alpha)``.

    The baselines fit scikit-learn's ``KernelRidge`` (a Cholesky solve: exact,
    no warm start).
    """

    kind = "krr"

    def fitter(self):
        def fit(lam):
            gamma, alpha = np.exp(lam)
            model = KernelRidge(kernel="rbf", gamma=gamma, alpha=alpha)
            model.fit(self.X_train, self.y_train)
            residual = self.y_val - model.predict(self.X_val)
            return float(np.mean(residual**2)), model

        return fit

    def test_loss(self, model):
        return float(np.mean((self.y_test - model.predict(self.X_test)) ** 2))

    def hoag_problem(self, lam0):
        return KernelRidgeProblem(self.X_train, self.y_train, self.X_val, self.y_val)

    def hoag_test_loss(self, problem, x, lam):
        gamma = math.exp(float(lam[0]))
        prediction = rbf_kernel(self.X_test, self.X_train, gamma=gamma) @ x
        return float(np.mean((self.y_test - prediction) ** 2))

    def fit_time(self, lam, repeat):
        gamma, alpha = np.exp(lam)
        return median_seconds(lambda: KernelRidge(kernel="rbf", gamma=gamma,
                                                  alpha=alpha).fit(self.X_train,
                                                                   self.y_train),
                              repeat)


class MultinomialTask(Task):
    """Multinomial l2-logistic regression on pixels, ``lam = log(1/C)``.

    ``lam`` has one coordinate (one C for all pixels) or one per pixel
    (``hoag_problem`` with a start of that length). scikit-learn has no
    per-feature penalty, so the single-C grid uses hoag's own compiled L-BFGS
    (relative gradient 1e-6, warm started), as bench_multinomial.py does.
    """

    kind = "multinomial"

    def _problem(self, m):
        groups = None if m == 1 else np.arange(self.X_train.shape[1])
        return MultinomialProblem(self.X_train, self.y_train, self.X_val,
                                  self.y_val, n_classes=10, groups=groups)

    def fitter(self):
        state = dict(problem=None, x=None)

        def fit(lam):
            lam = np.asarray(lam, float)
            problem = state["problem"]
            if problem is None or problem.n_hyperparams != lam.size:
                # One C for all pixels, or one per pixel.
                problem = state["problem"] = self._problem(lam.size)
                state["x"] = None
            state["x"], _ = problem.inner_solve(lam, state["x"], FIT_TOL)
            value = problem.outer_value_grad(state["x"], lam)[0]
            return value, problem.coefficients(state["x"])

        return fit

    def test_loss(self, model):
        return multinomial_log_loss(*model, self.X_test, self.y_test)

    def hoag_problem(self, lam0):
        return self._problem(len(lam0))

    def hoag_test_loss(self, problem, x, lam):
        return self.test_loss(problem.coefficients(x))

    def fit_time(self, lam, repeat):
        """One cold solve at ``lam`` (a new problem each time: the L-BFGS memory
        of a problem is kept across its solves)."""
        lam = np.asarray(lam, float)
        times = []
        for _ in range(repeat):
            problem = self._problem(len(lam))
            start = time.perf_counter()
            problem.inner_solve(lam, None, FIT_TOL)
            times.append(time.perf_counter() - start)
        return float(np.median(times))
