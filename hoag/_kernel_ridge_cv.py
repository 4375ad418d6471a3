"""KernelRidgeCV: RBF kernel ridge regression with gamma and alpha tuned by HOAG."""

import math
import numbers
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, check_cv
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _core
from ._cv import MeanOverFolds, fold_threads, warm_started
from ._outer import BoundaryWarning, InterruptedWarning, hoag
from ._threads import one_blas_thread
from ._validation import check_fold, check_target
from .models.kernel_ridge import (
    KernelRidgeProblem,
    _check_bounds,
    default_memory_budget,
)

__all__ = ["KernelRidgeCV"]

# Relative residual of the refit when it cannot be solved by Cholesky.
_REFIT_TOL = 1e-10
_DEFAULT_VALIDATION_FRACTION = 0.25
_NAMES = ("gamma", "alpha")


class KernelRidgeCV(RegressorMixin, BaseEstimator):
    """RBF kernel ridge regression with ``gamma`` and ``alpha`` tuned by HOAG.

    For given ``(gamma, alpha)`` the model is scikit-learn's
    ``KernelRidge(kernel="rbf", gamma=gamma, alpha=alpha)``: dual coefficients
    ``c`` solve ``(K + alpha I) c = y`` with ``K_ij = exp(-gamma ||x_i - x_j||^2)``
    and the prediction at ``x`` is ``sum_i c_i exp(-gamma ||x - x_i||^2)``
    (no intercept). Both hyperparameters minimise the held-out mean squared
    error, by gradient descent on ``lam = (log gamma, log alpha)`` with
    hypergradients from inexact conjugate-gradient solves (Pedregosa, 2016).

    Parameters
    ----------
    gamma0 : float or None, default=None
        Starting ``gamma``; None means ``1 / n_features`` (scikit-learn's default).
    alpha0 : float, default=1.0
        Starting ``alpha``.
    gamma_bounds, alpha_bounds : pair of float, default=(1e-6, 1e4), (1e-8, 1e4)
        Search boxes. A result on a bound warns (:class:`hoag.BoundaryWarning`)
        and the model is still fitted there.
    cv : None, int, cross-validation splitter or iterable, default=None
        None: one split with 25 % of the samples held out, drawn with
        ``random_state``. An int ``k``: k folds (``KFold``), the criterion being
        the mean of the folds' validation MSEs. A splitter or an iterable of
        ``(train_idx, val_idx)`` pairs, as in scikit-learn.
    tol : float, default=1e-4
        Outer tolerance of :func:`hoag.hoag` (inner tolerance, projected
        hypergradient relative to the MSE, and step in ``lam``).
    max_iter : int, default=50
        Maximum outer iterations.
    schedule : {"exponential", "quadratic", "cubic", "exact"}, default="exponential"
        Decrease of the tolerance of the inner solves.
    refit : bool, default=True
        True: solve on all of ``X`` at the chosen hyperparameters (Cholesky when
        ``n^2`` doubles fit ``memory_budget``, else matrix-free CG). False: keep
        the solution on the training part of the (first) split.
    max_time : float or None, default=None
        Wall-clock budget of the search in seconds.
    storage : {"auto", "full", "kernel", "matrix-free"}, default="auto"
        Kernel layout of each fold (:class:`hoag.KernelRidgeProblem`).
    memory_budget : int or None, default=None
        Bytes the stored kernels may take, shared by the folds; None: half the
        available memory.
    preconditioner : bool or int, default=True
        Nystrom preconditioner of the CG solves (True: rank 200; an int: that
        rank; False: none).
    max_cg_iter : int or None, default=None
        Iteration cap of each CG solve; None: ``max(1000, n_train)``.
    verbose : int, default=0
        ``> 0``: one progress line per outer iteration (logger ``hoag._outer``).
    random_state : int, RandomState instance or None, default=None
        Seed of the default split (``cv=None``).
    n_jobs : int or None, default=None
        Folds solved in parallel, with joblib's meaning (None: one unless a
        ``joblib.parallel_config`` says otherwise; -1: all cores). Threads by
        default; ``joblib.parallel_config(backend="dask")`` runs the folds on
        a Dask cluster.
    n_threads : int or None, default=None
        Threads of the compiled kernels. None: one per fold when folds run in
        parallel, else chosen by data size.
    warm_start : bool, default=False
        True: a second fit starts from the previous ``(gamma_, alpha_)`` and,
        when the folds are the same, from the previous fold solutions.

    Attributes
    ----------
    gamma_, alpha_ : float
        Chosen hyperparameters (names of scikit-learn's ``KernelRidge``).
    dual_coef_ : ndarray of shape (n_fit,)
        Dual coefficients ``c`` at the chosen hyperparameters.
    X_fit_ : ndarray of shape (n_fit, n_features)
        Rows the dual coefficients refer to (all of ``X`` after a refit).
    validation_loss_ : float
        Validation MSE at the chosen point (mean over folds).
    history_ : list of dict
        Per-iteration trace of :class:`hoag.HOAGResult`
        (``lam = (log gamma, log alpha)``).
    result_ : hoag.HOAGResult
        The whole outcome of the search.
    n_iter_ : int
        Outer iterations performed.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> from hoag.datasets import load_diabetes_standardised
    >>> X, y = load_diabetes_standardised()
    >>> model = KernelRidgeCV(random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.5)
    True
    """

    def __init__(self, *, gamma0=None, alpha0=1.0, gamma_bounds=(1e-6, 1e4),
                 alpha_bounds=(1e-8, 1e4), cv=None, tol=1e-4, max_iter=50,
                 schedule="exponential", refit=True, max_time=None, storage="auto",
                 memory_budget=None, preconditioner=True, max_cg_iter=None,
                 verbose=0, random_state=None, n_jobs=None, n_threads=None,
                 warm_start=False):
        self.gamma0 = gamma0
        self.alpha0 = alpha0
        self.gamma_bounds = gamma_bounds
        self.alpha_bounds = alpha_bounds
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.schedule = schedule
        self.refit = refit
        self.max_time = max_time
        self.storage = storage
        self.memory_budget = memory_budget
        self.preconditioner = preconditioner
        self.max_cg_iter = max_cg_iter
        self.verbose = verbose
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.warm_start = warm_start

    def fit(self, X, y, sample_weight=None, groups=None):
        """Tune ``gamma`` and ``alpha`` on held-out data, then fit at them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense training data; float32 stays float32 in the kernels.
        y : array-like of shape (n_samples,)
            Real target.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, used in the training objective
            (scikit-learn's weighted ``KernelRidge``) and in the validation
            criterion (the weighted mean squared error of each fold).
        groups : array-like of shape (n_samples,), default=None
            Group labels passed to a group splitter given as ``cv``.

        Returns
        -------
        self : KernelRidgeCV

        Notes
        -----
        A ``KeyboardInterrupt`` (Ctrl-C) during the search ends it: the model
        is fitted at the best hyperparameters found so far, ``result_.
        interrupted`` is True and :class:`hoag.InterruptedWarning` says so.
        Before the first point is evaluated, or during the final fit, the
        interrupt propagates.
        """
        # 1. Check the input and the parameters.
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32],
                             order="C", y_numeric=True)
        y = check_target(y, X.shape[0], "y")
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        if X.shape[0] < 2:
            raise ValueError(f"KernelRidgeCV needs at least 2 samples (one to "
                             f"train, one to validate), got n_samples = "
                             f"{X.shape[0]}")
        lam0 = self._start(X.shape[1])
        previous = getattr(self, "result_", None) if self.warm_start else None
        budget = (default_memory_budget() if self.memory_budget is None
                  else self.memory_budget)

        # 2. One inner problem per fold, each with its share of the memory.
        splits = [check_fold(train, val, X.shape[0], k)
                  for k, (train, val) in enumerate(self._splits(X, y, groups))]
        n_threads = fold_threads(self.n_threads, self.n_jobs, len(splits))
        problems = [self._problem(X, y, sample_weight, train, val, k,
                                  budget // len(splits), n_threads)
                    for k, (train, val) in enumerate(splits)]
        problem = (problems[0] if len(problems) == 1
                   else MeanOverFolds(problems, n_jobs=self.n_jobs))
        if previous is not None:
            lam0 = np.clip(previous.lam, problems[0].bounds[:, 0],
                           problems[0].bounds[:, 1])
            problem = warm_started(problem, previous.x)

        # 3. The HOAG search over lam = (log gamma, log alpha).
        result = hoag(problem, lam0, bounds=problems[0].bounds,
                      schedule=self.schedule, tol=self.tol, max_iter=self.max_iter,
                      max_time=self.max_time, verbose=self.verbose, warn=False)
        self.result_ = result
        self.history_ = result.trace
        self.n_iter_ = result.n_iter
        self.gamma_, self.alpha_ = (float(v) for v in np.exp(result.lam))
        self.validation_loss_ = float(result.value)
        self._warn_search(result)

        # 4. The final model.
        if self.refit:
            self.X_fit_ = X
            self.dual_coef_ = self._refit(X, y, sample_weight, budget)
        else:
            x_fold = result.x[0] if isinstance(result.x, tuple) else result.x
            self.X_fit_ = X[np.asarray(splits[0][0])]
            self.dual_coef_ = problems[0].dual_coef(x_fold)
        return self

    def predict(self, X):
        """Predictions ``sum_i c_i exp(-gamma_ ||x - x_i||^2)``.

        Computed matrix-free in compiled tiles: no ``n_samples x n_fit`` matrix
        is stored.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                          reset=False)
        return _core.rbf_products(X, self.X_fit_, self.gamma_, self.dual_coef_,
                                  dk=False)[0]

    # ------------------------------------------------------------------
    def _start(self, n_features):
        """lam0 = (log gamma0, log alpha0), checked against the bounds."""
        gamma0 = 1.0 / n_features if self.gamma0 is None else self.gamma0
        for name, value in (("gamma0", gamma0), ("alpha0", self.alpha0)):
            if not (isinstance(value, numbers.Real) and math.isfinite(value)
                    and value > 0):
                raise ValueError(f"{name} must be a positive finite float, got "
                                 f"{value!r}")
        for name, value, bounds in (("gamma0", gamma0, self.gamma_bounds),
                                    ("alpha0", self.alpha0, self.alpha_bounds)):
            # The bounds' own errors (wrong order, <= 0) come first.
            _check_bounds(f"{name[:-1]}_bounds", bounds)
            low, high = (float(v) for v in bounds)
            if not low <= value <= high:
                raise ValueError(f"{name}={value} lies outside "
                                 f"{name[:-1]}_bounds={bounds!r}")
        return np.log([gamma0, self.alpha0])

    def _splits(self, X, y, groups=None):
        if self.cv is None:
            splitter = ShuffleSplit(n_splits=1, test_size=_DEFAULT_VALIDATION_FRACTION,
                                    random_state=self.random_state)
        else:
            splitter = check_cv(self.cv, y, classifier=False)
        splits = list(splitter.split(X, y, groups))
        if not splits:
            raise ValueError("cv produced no split")
        return splits

    def _problem(self, X, y, sample_weight, train, val, k, budget, n_threads):
        train, val = np.asarray(train), np.asarray(val)
        if train.size == 0 or val.size == 0:
            raise ValueError(f"fold {k}: empty training or validation part")
        if not sample_weight[val].sum() > 0:
            raise ValueError(f"fold {k}: the validation samples all have weight 0")
        return KernelRidgeProblem(
            X[train], y[train], X[val], y[val], gamma_bounds=self.gamma_bounds,
            alpha_bounds=self.alpha_bounds, storage=self.storage,
            memory_budget=budget, preconditioner=self.preconditioner,
            max_inner_iter=self.max_cg_iter, max_linear_iter=self.max_cg_iter,
            n_threads=n_threads, sample_weight_train=sample_weight[train],
            sample_weight_val=sample_weight[val],
        )

    def _refit(self, X, y, sample_weight, budget):
        """Dual coefficients on all of X at (gamma_, alpha_)."""
        n = X.shape[0]
        s = np.sqrt(sample_weight)
        if 8 * n * n <= budget:
            # The exact solve of scikit-learn's KernelRidge: Cholesky of
            # S K S + alpha I, then c = S x.
            K = _core.rbf_kernel(X, gamma=self.gamma_, n_threads=self.n_threads)
            K *= s[:, None]
            K *= s
            K.flat[:: n + 1] += self.alpha_
            return s * scipy.linalg.solve(K, s * y, assume_a="pos",
                                          overwrite_a=True)
        problem = KernelRidgeProblem(
            X, y, X[:1], y[:1], storage="matrix-free", memory_budget=0,
            preconditioner=self.preconditioner,
            max_inner_iter=self.max_cg_iter or max(1000, 10 * n),
            gamma_bounds=(self.gamma_, self.gamma_),
            alpha_bounds=(self.alpha_, self.alpha_), n_threads=self.n_threads,
            sample_weight_train=sample_weight,
        )
        with one_blas_thread():
            c, info = problem.inner_solve(np.log([self.gamma_, self.alpha_]), None,
                                          _REFIT_TOL)
        if not info.converged:
            warnings.warn(
                f"the matrix-free refit stopped before its tolerance ({info.message}):"
                f" {info.n_iter} CG iterations, relative residual "
                f"{info.residual:.3g} against {_REFIT_TOL:.0e}. Raise max_cg_iter "
                f"or memory_budget (a Cholesky refit needs {8 * n * n} bytes).",
                ConvergenceWarning, stacklevel=3,
            )
        return problem.dual_coef(c)

    def _warn_search(self, result):
        """Warnings about the search: budget, bounds, solves that fell short."""
        if result.interrupted:
            warnings.warn(
                f"fit {result.message}: the model is fitted at gamma="
                f"{self.gamma_:.4g}, alpha={self.alpha_:.4g}, validation MSE "
                f"{result.value:.6g} (iteration {result.best_iteration}).",
                InterruptedWarning, stacklevel=3,
            )
        elif not result.converged and "callback" not in result.message:
            warnings.warn(
                f"HOAG stopped before convergence: {result.message}; "
                f"gamma={self.gamma_:.4g}, alpha={self.alpha_:.4g}, validation MSE "
                f"{result.value:.6g}. Raise max_iter or max_time, or loosen tol.",
                ConvergenceWarning, stacklevel=3,
            )
        values = (self.gamma_, self.alpha_)
        boxes = (self.gamma_bounds, self.alpha_bounds)
        for j, name in enumerate(_NAMES):
            for side, flags in (("lower", result.at_lower), ("upper", result.at_upper)):
                if flags[j]:
                    direction = "smaller" if side == "lower" else "larger"
                    warnings.warn(
                        f"{name}_={values[j]:.4g} is on the {side} bound of "
                        f"{name}_bounds={boxes[j]}: the validation MSE may keep "
                        f"decreasing for {direction} {name}. Widen {name}_bounds "
                        f"to search further; the model is fitted at the bound.",
                        BoundaryWarning, stacklevel=3,
                    )
        # One warning per fit for the solves that fell short, both kinds.
        parts = []
        for key in ("inner", "linear"):
            failed = [r for r in result.trace
                      if r[f"{key}_iter"] > 0 and not r[f"{key}_converged"]]
            if not failed:
                continue
            worst = max(failed, key=lambda r: r[f"{key}_residual"] / r["eps"])
            gamma, alpha = np.exp(worst["lam"])
            what = "inner" if key == "inner" else "Hessian"
            parts.append(
                f"{len(failed)} of {len(result.trace)} conjugate-gradient {what} "
                f"solves stopped before their tolerance; worst at gamma={gamma:.4g},"
                f" alpha={alpha:.4g}: {worst[f'{key}_iter']} iterations, relative "
                f"residual {worst[f'{key}_residual']:.3g} against a target of "
                f"{worst['eps']:.3g}."
            )
        if parts:
            warnings.warn(
                " ".join(parts) + " Raise max_cg_iter, alpha_bounds[0], or the "
                "preconditioner rank.",
                ConvergenceWarning, stacklevel=3,
            )
