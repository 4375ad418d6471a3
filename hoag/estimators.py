"""scikit-learn estimators that tune their regularisation with HOAG."""

import math
import numbers
import warnings

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.model_selection import StratifiedShuffleSplit, check_cv
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _core
from ._cv import MeanOverFolds, fold_threads, warm_started
from ._outer import BoundaryWarning, InterruptedWarning, hoag
from ._validation import check_fold, check_rows
from .models import LogisticProblem, MultinomialProblem

__all__ = ["KernelRidgeCV", "LogisticRegressionCV"]

# Relative gradient-norm tolerance of the final refit: the "exact" fit at C_.
_REFIT_TOL = 1e-8
# Validation share of the default single split (cv=None).
_DEFAULT_VALIDATION_FRACTION = 0.25


class LogisticRegressionCV(LinearClassifierMixin, BaseEstimator):
    """l2-regularised logistic regression whose C is tuned by HOAG.

    The inverse penalty ``C`` minimises the held-out logistic loss; it is found
    by gradient descent on ``lam = -log C`` with hypergradients from inexact
    inner solves (Pedregosa, 2016), not by a grid. For given ``C`` the model is
    scikit-learn's ``LogisticRegression(C=C)``; with two classes::

        min_{w, b}  C sum_i s_i log(1 + exp(-y_i (x_i . w + b))) + 1/2 ||w||^2

    and with ``K > 2`` classes the multinomial (softmax) model, ``W`` of shape
    ``(n_features, K)``::

        min_{W, b}  sum_i s_i (logsumexp(z_i) - z_{i, y_i})
                    + 1/2 sum_{j, k} W_jk^2 / C_{G_jk},     z_i = x_i W + b

    (intercepts are not penalised). ``penalty_groups`` gives each coefficient
    the group ``G_jk`` of its own ``C``: one for all, one per feature shared by
    the classes, one per coefficient, or any grouping of the features. The
    default single split is stratified, so that every class has training
    samples; a user-given ``cv`` whose training part lacks a class is refused
    with a clear error before any fitting.

    Parameters
    ----------
    C0 : float, default=1.0
        Starting value of ``C``.
    C_bounds : tuple of two floats, default=(1e-6, 1e6)
        Search range ``lower <= C <= upper``. A ``C_`` on a bound warns
        (:class:`hoag.BoundaryWarning`).
    cv : None, int, cross-validation splitter or iterable, default=None
        Validation scheme. None: one stratified split with 25 % of the samples
        held out, drawn with ``random_state``. An int ``k``: stratified k folds,
        and the criterion is the mean held-out loss over the folds. A splitter
        or an iterable of ``(train_idx, val_idx)`` pairs, as in scikit-learn.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept.
    tol : float, default=1e-4
        Outer tolerance: HOAG stops once its inner tolerance, the projected
        hypergradient (relative to the validation loss) and the step in
        ``log C`` are all below ``tol``.
    max_iter : int, default=50
        Maximum outer (hyperparameter) iterations.
    schedule : {"exponential", "quadratic", "cubic", "exact"}, default="exponential"
        Decrease of the inner tolerance across outer iterations.
    refit : bool, default=True
        True: fit the final model on all of ``X`` at ``C_``. False: keep the
        model fitted on the training part of the (first) split.
    max_time : float or None, default=None
        Wall-clock budget of the search in seconds.
    max_inner_iter : int, default=1000
        Iteration cap of each inner L-BFGS solve (and of each CG solve).
    verbose : int, default=0
        ``> 0``: one progress line per outer iteration (logger ``hoag._outer``;
        printed to stderr when logging is not configured).
    random_state : int, RandomState instance or None, default=None
        Seed of the default split (``cv=None``).
    penalty_groups : None, "features", "coefficients" or array of int, \
default=None
        One ``C`` for all coefficients (None); one per feature, shared by the
        classes ("features"); one per coefficient ("coefficients", the same as
        "features" with two classes); or an integer array of length
        ``n_features`` mapping each feature to its group ``0 .. m-1`` (every
        label used). Every ``C`` starts at ``C0`` within ``C_bounds``.
    n_jobs : int or None, default=None
        Folds solved in parallel, with joblib's meaning (None: one unless a
        ``joblib.parallel_config`` says otherwise; -1: all cores). Threads by
        default; ``joblib.parallel_config(backend="dask")`` runs the folds on
        a Dask cluster.
    n_threads : int or None, default=None
        Threads of the compiled kernels. None: one per fold when folds run in
        parallel (so that ``n_jobs`` decides how many cores are busy), else
        chosen by data size.
    warm_start : bool, default=False
        True: a second fit starts from the previous ``C_`` and, when the folds
        and shapes are the same, from the previous fold solutions.

    Attributes
    ----------
    C_ : float or ndarray
        Chosen inverse penalty: a float for one group, else an array with one
        entry per group (shape ``(n_features,)`` for "features", ``(K,
        n_features)`` for "coefficients" with ``K > 2`` classes).
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients at ``C_``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (0 without ``fit_intercept``).
    classes_ : ndarray of shape (n_classes,)
        Class labels; with two, ``classes_[1]`` is the positive class.
    n_iter_ : int
        Outer iterations performed.
    validation_loss_ : float
        Mean held-out log loss at ``C_`` (mean over folds).
    history_ : list of dict
        The per-iteration trace of :class:`hoag.HOAGResult` (``lam = -log C``).
    result_ : hoag.HOAGResult
        The full outcome of the search.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = LogisticRegressionCV(random_state=0).fit(scale(X), y)
    >>> 0.1 < clf.C_ < 10
    True
    """

    def __init__(self, *, C0=1.0, C_bounds=(1e-6, 1e6), cv=None, fit_intercept=True,
                 tol=1e-4, max_iter=50, schedule="exponential", refit=True,
                 max_time=None, max_inner_iter=1000, verbose=0, random_state=None,
                 penalty_groups=None, n_jobs=None, n_threads=None,
                 warm_start=False):
        self.C0 = C0
        self.C_bounds = C_bounds
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.schedule = schedule
        self.refit = refit
        self.max_time = max_time
        self.max_inner_iter = max_inner_iter
        self.verbose = verbose
        self.random_state = random_state
        self.penalty_groups = penalty_groups
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.warm_start = warm_start

    def fit(self, X, y, sample_weight=None, groups=None):
        """Tune ``C`` on held-out data and fit the model at the chosen ``C``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 stays float32 in the kernels.
        y : array-like of shape (n_samples,)
            Class labels of any type, two or more classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, used in training and validation losses.
        groups : array-like of shape (n_samples,), default=None
            Group labels passed to a group splitter given as ``cv``.

        Returns
        -------
        self : LogisticRegressionCV

        Notes
        -----
        A ``KeyboardInterrupt`` (Ctrl-C) during the search ends it: the model
        is fitted at the best hyperparameters found so far, ``result_.
        interrupted`` is True and :class:`hoag.InterruptedWarning` says so.
        Before the first point is evaluated, or during the final fit, the
        interrupt propagates.
        """
        # 1. Check the input and the parameters.
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
            order="C", accept_large_sparse=True,
        )
        # Once for all folds: int32 indices, each (row, column) stored once.
        X = check_rows(X, "X")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            # tolist(): the label as the user wrote it, not numpy's repr of it
            # (np.int64(0), np.str_('a')).
            raise ValueError(
                f"LogisticRegressionCV needs samples of two classes; y has only "
                f"one class: {self.classes_.tolist()[0]!r}"
            )
        n_classes = self.classes_.size
        self._multinomial = n_classes > 2
        # binary: labels -1/+1; multinomial: class indices
        y_pm = y_index if self._multinomial else np.where(y_index == 1, 1.0, -1.0)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        fit_groups = groups
        groups, group_shape = self._check_groups(X.shape[1], n_classes)
        m = 1 if groups is None else int(groups.max()) + 1
        lam_bounds, lam0 = self._check_C()
        lam0 = np.full(m, lam0[0])
        previous = getattr(self, "result_", None) if self.warm_start else None
        if previous is not None and previous.lam.shape == lam0.shape:
            lam0 = np.clip(previous.lam, *lam_bounds)
        else:
            previous = None

        # 2. One inner problem per fold, after every fold has been checked.
        splits = [check_fold(train, val, X.shape[0], k) for k, (train, val)
                  in enumerate(self._splits(X, y_index, groups=fit_groups))]
        for k, (train, val) in enumerate(splits):
            self._check_fold(y_index, train, val, k)
        n_threads = fold_threads(self.n_threads, self.n_jobs, len(splits))
        problems = [
            self._problem(X, y_pm, sample_weight, train, val, groups, n_threads)
            for train, val in splits
        ]
        problem = (problems[0] if len(problems) == 1
                   else MeanOverFolds(problems, n_jobs=self.n_jobs))
        problem = warm_started(problem, None if previous is None else previous.x)

        # 3. The HOAG search over lam = -log C.
        result = hoag(
            problem, lam0, bounds=lam_bounds, schedule=self.schedule, tol=self.tol,
            max_iter=self.max_iter, max_time=self.max_time, verbose=self.verbose,
            warn=False,
        )
        self.result_ = result
        self.history_ = result.trace
        self.n_iter_ = result.n_iter
        C = np.exp(-result.lam)
        self.C_ = float(C[0]) if groups is None else C.reshape(group_shape)
        self.validation_loss_ = float(result.value)
        self._warn_search(result, problems)

        # 4. The final model: refit on all data, or the first fold's solution.
        x_fold = result.x[0] if isinstance(result.x, tuple) else result.x
        if self.refit:
            alpha = problems[0].penalty(result.lam)
            x = self._refit(X, y_pm, sample_weight, x_fold, alpha, n_classes)
        else:
            x = np.array(x_fold)
        p = X.shape[1]
        if self._multinomial:
            self.coef_ = np.ascontiguousarray(x[: p * n_classes].reshape(p, -1).T)
            self.intercept_ = (x[p * n_classes:].copy() if self.fit_intercept
                               else np.zeros(n_classes))
        else:
            self.coef_ = x[:p].reshape(1, p)
            self.intercept_ = np.array([x[p] if self.fit_intercept else 0.0])
        return self

    def __sklearn_tags__(self):
        """scikit-learn tags: CSR input is accepted (and used as is)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def predict_proba(self, X):
        """Probability of each class: ``[1 - sigma(z), sigma(z)]``, or softmax(z).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if self.classes_.size > 2:
            return softmax(self.decision_function(X), axis=1)
        prob = expit(self.decision_function(X))
        return np.column_stack([1.0 - prob, prob])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        z = self.decision_function(X)
        if self.classes_.size > 2:
            return log_softmax(z, axis=1)
        # log sigma(z) = -log(1 + exp(-z)), stable for any z
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    # ------------------------------------------------------------------
    def _check_C(self):
        """lam bounds and start from ``C_bounds`` and ``C0`` (lam = -log C)."""
        try:
            low, high = (float(v) for v in self.C_bounds)
        except (TypeError, ValueError):
            raise ValueError(
                f"C_bounds must be a pair of positive floats, got {self.C_bounds!r}"
            ) from None
        if not (0 < low <= high < math.inf):
            raise ValueError(
                f"C_bounds must satisfy 0 < lower <= upper < inf, got {self.C_bounds!r}"
            )
        C0 = self.C0
        # bool passes isinstance(Real/Integral), but True is a flag, not a C
        # nor a count.
        if not (isinstance(C0, numbers.Real) and not isinstance(C0, bool)
                and math.isfinite(C0) and C0 > 0):
            raise ValueError(f"C0 must be a positive finite float, got {C0!r}")
        if not low <= C0 <= high:
            raise ValueError(f"C0={C0} lies outside C_bounds={self.C_bounds!r}")
        if not (isinstance(self.max_inner_iter, numbers.Integral)
                and not isinstance(self.max_inner_iter, bool)
                and self.max_inner_iter >= 1):
            raise ValueError(
                f"max_inner_iter must be a positive integer, got "
                f"{self.max_inner_iter!r}"
            )
        return (-math.log(high), -math.log(low)), np.array([-math.log(C0)])

    def _splits(self, X, y_index, groups=None):
        """The (train, validation) index pairs of the validation scheme."""
        if self.cv is None:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=_DEFAULT_VALIDATION_FRACTION,
                random_state=self.random_state,
            )
        else:
            splitter = check_cv(self.cv, y_index, classifier=True)
        splits = list(splitter.split(X, y_index, groups))
        if not splits:
            raise ValueError("cv produced no split")
        return splits

    def _check_groups(self, n_features, n_classes):
        """Feature (or coefficient) groups from ``penalty_groups``, and C_'s shape.

        Returns None for a single C, else an integer array of shape
        ``(n_features,)`` or, for "coefficients" with ``K > 2``, ``(n_features,
        K)``, with labels ``0 .. m-1``.
        """
        spec = self.penalty_groups
        if spec is None:
            return None, ()
        if isinstance(spec, str):
            if spec == "features" or (spec == "coefficients" and n_classes == 2):
                return np.arange(n_features), (n_features,)
            if spec == "coefficients":
                groups = np.arange(n_features * n_classes).reshape(
                    n_features, n_classes)
                return groups, (n_classes, n_features)
            raise ValueError(
                f"penalty_groups must be None, 'features', 'coefficients' or an "
                f"integer array of length n_features, got {spec!r}"
            )
        groups = np.asarray(spec)
        if groups.shape != (n_features,) or not np.issubdtype(groups.dtype,
                                                               np.integer):
            raise ValueError(
                f"penalty_groups must be an integer array of shape ({n_features},) "
                f"(one group per feature), got {groups.dtype} array of shape "
                f"{groups.shape}"
            )
        labels = np.unique(groups)
        if labels[0] != 0 or labels[-1] != labels.size - 1:
            raise ValueError(
                f"penalty_groups must use every label 0 .. m-1 (C_[g] is group "
                f"g's C); got labels from {labels[0]} to {labels[-1]} with "
                f"{labels.size} distinct values"
            )
        return groups.copy(), (labels.size,)

    def _check_fold(self, y_index, train, val, k):
        """Clear errors for a fold that cannot be fitted, before any fitting."""
        train, val = np.asarray(train), np.asarray(val)
        if train.size == 0 or val.size == 0:
            raise ValueError(f"fold {k}: empty training or validation part")
        present = np.unique(y_index[train])
        if present.size < 2:
            raise ValueError(
                f"fold {k}: the training part holds a single class; use a "
                f"stratified splitter or more samples per class"
            )
        if present.size < self.classes_.size:
            missing = np.setdiff1d(np.arange(self.classes_.size), present)
            raise ValueError(
                f"fold {k}: class(es) {self.classes_[missing].tolist()} have no "
                f"sample in the training part, so the model cannot learn them; use "
                f"a stratified splitter (the default) or more samples per class"
            )

    def _problem(self, X, y_pm, sample_weight, train, val, groups, n_threads):
        """The LogisticProblem (or MultinomialProblem) of one fold."""
        train, val = np.asarray(train), np.asarray(val)
        options = dict(
            sample_weight_train=sample_weight[train],
            sample_weight_val=sample_weight[val], groups=groups,
            fit_intercept=self.fit_intercept, max_inner_iter=self.max_inner_iter,
            max_linear_iter=self.max_inner_iter, n_threads=n_threads,
        )
        if self._multinomial:
            return MultinomialProblem(X[train], y_pm[train], X[val], y_pm[val],
                                      n_classes=self.classes_.size, **options)
        return LogisticProblem(X[train], y_pm[train], X[val], y_pm[val], **options)

    def _refit(self, X, y_pm, sample_weight, x0, alpha, n_classes):
        """Fit on all of X at C_ (penalty alpha), warm-started at the fold's x."""
        if self._multinomial:
            obj = _core.Multinomial(X, y_pm, n_classes=n_classes,
                                    sample_weight=sample_weight,
                                    fit_intercept=self.fit_intercept,
                                    n_threads=self.n_threads)
        else:
            obj = _core.BinaryLogistic(X, y_pm, sample_weight=sample_weight,
                                       fit_intercept=self.fit_intercept,
                                       n_threads=self.n_threads)
        obj.alpha = alpha
        _, grad0 = obj.value_grad(np.zeros(obj.n))
        target = _REFIT_TOL * (float(np.linalg.norm(grad0)) or 1.0)
        x = np.array(x0, dtype=np.float64)
        _, gnorm, n_iter, _, status = _core.lbfgs(
            obj, x, target, max_iter=self.max_inner_iter
        )
        if status != 0:
            warnings.warn(
                f"the refit at C={_describe(self.C_)} stopped before its tolerance "
                f"({_core.STATUS_MESSAGES[status]}): {n_iter} L-BFGS iterations, "
                f"gradient norm {gnorm:.3g} against a target of {target:.3g}. "
                f"Standardise the features or raise max_inner_iter.",
                ConvergenceWarning, stacklevel=3,
            )
        return x

    def _warn_search(self, result, problems):
        """Warnings about the search: budget, bounds, solves that fell short."""
        if result.interrupted:
            warnings.warn(
                f"fit {result.message}: the model is fitted at C={_describe(self.C_)}"
                f", validation loss {result.value:.6g} (iteration "
                f"{result.best_iteration}).",
                InterruptedWarning, stacklevel=3,
            )
        elif not result.converged and "callback" not in result.message:
            warnings.warn(
                f"HOAG stopped before convergence: {result.message}; "
                f"C={_describe(self.C_)}, "
                f"validation loss {result.value:.6g}. Raise max_iter or max_time, "
                f"or loosen tol.",
                ConvergenceWarning, stacklevel=3,
            )
        low, high = self.C_bounds
        if result.lam.size > 1 and (result.at_upper.any() or result.at_lower.any()):
            # One aggregated warning: a count and the first few, not a line each.
            C = np.exp(-result.lam)
            parts = []
            for side, mask in (("lower", result.at_upper), ("upper", result.at_lower)):
                idx = np.flatnonzero(mask)
                if idx.size:
                    shown = ", ".join(f"C[{i}]={C[i]:.3g}" for i in idx[:5])
                    more = f", ... ({idx.size - 5} more)" if idx.size > 5 else ""
                    parts.append(f"{idx.size} on the {side} bound ({shown}{more})")
            warnings.warn(
                f"{int(result.at_upper.sum() + result.at_lower.sum())} of "
                f"{C.size} penalties ended on a bound of C_bounds={self.C_bounds}: "
                + "; ".join(parts) + ". Widen C_bounds to search further.",
                BoundaryWarning, stacklevel=3,
            )
        elif result.at_upper[0]:
            warnings.warn(
                f"C_={self.C_:.4g} is on the lower bound of C_bounds={self.C_bounds}: "
                f"the validation loss may keep decreasing for smaller C. Lower "
                f"C_bounds[0] to search further.",
                BoundaryWarning, stacklevel=3,
            )
        if result.at_lower[0]:
            warnings.warn(
                f"C_={self.C_:.4g} is on the upper bound of C_bounds={self.C_bounds}: "
                f"the validation loss may keep decreasing for larger C (is the "
                f"training data separable?). Raise C_bounds[1] to search further.",
                BoundaryWarning, stacklevel=3,
            )
        # One warning per fit for the solves that fell short, both kinds.
        scale = max(problem.grad_scale for problem in problems)
        parts = []
        for kind, key in (("L-BFGS", "inner"), ("conjugate-gradient", "linear")):
            failed = [r for r in result.trace
                      if r[f"{key}_iter"] > 0 and not r[f"{key}_converged"]]
            if not failed:
                continue
            worst = max(failed, key=lambda r: r[f"{key}_residual"] / r["eps"])
            C = _describe(np.exp(-np.asarray(worst["lam"])))
            parts.append(
                f"{len(failed)} of {len(result.trace)} {kind} solves stopped before "
                f"their tolerance; worst at C={C}: {worst[f'{key}_iter']} "
                f"iterations, relative residual {worst[f'{key}_residual']:.3g} "
                f"(gradient norm about {worst[f'{key}_residual'] * scale:.3g}) "
                f"against a target of {worst['eps']:.3g}."
            )
        if parts:
            warnings.warn(
                " ".join(parts) + " Standardise the features or raise "
                "max_inner_iter.",
                ConvergenceWarning, stacklevel=3,
            )


def _describe(C):
    """C for a message: the value, or the range of an array of them."""
    C = np.atleast_1d(np.asarray(C, dtype=float))
    if C.size == 1:
        return f"{C[0]:.4g}"
    return f"[{C.size} values from {C.min():.3g} to {C.max():.3g}]"


# Defined in its own module; exported here with the other estimators.
from ._kernel_ridge_cv import KernelRidgeCV  # noqa: E402
