"""l2-regularised multinomial (softmax) logistic regression as a HOAG problem.

With class indices ``y_i`` in ``0 .. K-1``, training rows ``a_i``, coefficients
``x = (W.ravel(), b)`` (``W`` of shape ``(p, K)``) and hyperparameters ``lam``
(penalty ``alpha_jk = exp(lam[G_jk])`` for coefficient ``(j, k)`` in group
``G_jk``; one group by default)::

    h(x, lam) = sum_i s_i (logsumexp(z_i) - z_{i, y_i}) + 1/2 sum_jk alpha_jk W_jk^2
    g(x)      = sum_i v_i (logsumexp(z'_i) - z'_{i, y'_i}) / sum_i v_i
    d12_h^T q = (sum_{(j, k) in G_m} alpha_jk W_jk Q_jk)_m,   d2_g = 0

with ``z_i = a_i W + b``; the intercepts ``b`` are never penalised. One group per
feature (``G_jk = j``) gives the cross term ``alpha_j <W_j, Q_j>`` of HOAG.md.
In scikit-learn's spelling ``C = 1 / alpha`` for a single group.
"""

import numpy as np

from .. import _core
from ._rebuild import constructor_arguments
from .logistic import LogisticProblem, _check_split

__all__ = ["MultinomialProblem"]


class MultinomialProblem(LogisticProblem):
    """HOAG oracles of l2-multinomial logistic regression on one split.

    Implements :class:`hoag.HOAGProblem` like :class:`LogisticProblem` (whose
    inner L-BFGS solve with a penalty-shifted memory, validation value and CG
    Hessian solve it reuses), on the compiled softmax objective.

    Parameters
    ----------
    X_train, X_val : ndarray or CSR matrix, float32 or float64
        Training and validation rows; dense input must be C-contiguous. Kept by
        reference and never written.
    y_train, y_val : ndarray of int of shape (n_train,), (n_val,)
        Class indices in ``0 .. n_classes - 1``.
    n_classes : int or None
        ``K``; None means ``max(y_train) + 1``.
    sample_weight_train, sample_weight_val : ndarray or None
        Non-negative sample weights ``s_i`` and ``v_i``; None means ones.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class.
    groups : ndarray of int of shape (n_features,) or (n_features, n_classes), \
or None
        Hyperparameter index of each feature's penalty (shared by its K
        coefficients), or of each coefficient's penalty; None gives one
        hyperparameter for all coefficients.
    max_inner_iter, max_linear_iter : int, default=1000
        Iteration caps of each L-BFGS and each conjugate-gradient solve.
    n_threads : int or None
        Threads of the compiled kernels; None lets them decide by data size.

    Attributes
    ----------
    n_hyperparams : int
        Number of hyperparameters (groups).
    n_classes : int
        ``K``.
    n_coef : int
        Length of ``x``: ``(n_features + fit_intercept) * K``.
    grad_scale : float
        ``s = ||grad_x h(0, lam)||``, the reference of the relative inner
        tolerance (independent of ``lam``).

    Raises
    ------
    ValueError
        If, with an intercept, a class has no training sample: its intercept
        would go to minus infinity (there is no minimiser).
    """

    def __init__(self, X_train, y_train, X_val, y_val, *, n_classes=None,
                 sample_weight_train=None, sample_weight_val=None,
                 fit_intercept=True, groups=None, max_inner_iter=1000,
                 max_linear_iter=1000, n_threads=None):
        self._arguments = constructor_arguments(locals())
        data = _check_split(X_train, y_train, X_val, y_val, sample_weight_train,
                            sample_weight_val, dtype=None)
        y_train, y_val = data["y_train"], data["y_val"]
        for name, y in (("y_train", y_train), ("y_val", y_val)):
            if y.size and not (np.all(y == np.round(y)) and y.min() >= 0):
                raise ValueError(f"{name} must hold class indices 0, 1, ..., "
                                 f"n_classes - 1 (integers >= 0), got values from "
                                 f"{y.min()} to {y.max()}")
        if n_classes is not None and y_train.size and y_train.max() >= n_classes:
            raise ValueError(f"y_train must hold class indices in [0, {n_classes})"
                             f", got values up to {y_train.max()}")
        self.train = _core.Multinomial(
            data["X_train"], y_train, n_classes=n_classes,
            sample_weight=data["sample_weight_train"],
            fit_intercept=fit_intercept, n_threads=n_threads,
        )
        K = self.n_classes = int(self.train.n_classes)
        present = np.bincount(np.asarray(y_train, dtype=np.intp), minlength=K)
        if fit_intercept and np.any(present == 0):
            missing = np.flatnonzero(present == 0).tolist()
            raise ValueError(
                f"class(es) {missing} have no training sample: their intercepts "
                f"would diverge. Use a stratified split."
            )
        if y_val.size and y_val.max() >= K:
            raise ValueError(f"y_val must hold class indices in [0, {K}), got "
                             f"values from {y_val.min()} to {y_val.max()}")

        # Validation weights normalised to sum 1: g is the mean held-out loss.
        v = data["sample_weight_val"]
        self.val = _core.Multinomial(
            data["X_val"], y_val, n_classes=K, sample_weight=v / v.sum(),
            fit_intercept=fit_intercept, n_threads=n_threads,
        )

        self.fit_intercept = bool(fit_intercept)
        self.n_coef = self.train.n
        self.groups, self._coef_groups = _coefficient_groups(
            groups, self.train.rows.p, K)
        self.n_hyperparams = (int(self._coef_groups.max()) + 1
                              if self._coef_groups.size else 1)
        self._init_solver_state(max_inner_iter, max_linear_iter)

    def penalty(self, lam):
        """Penalty per coefficient ``alpha_jk = exp(lam[G_jk])``, 0 for intercepts.

        Parameters
        ----------
        lam : ndarray of shape (n_hyperparams,)

        Returns
        -------
        ndarray of shape (n_coef,)
            In the order of ``x``: ``W.ravel()`` then ``K`` zeros.
        """
        alpha = np.exp(np.asarray(lam, dtype=np.float64))[self._coef_groups]
        if self.fit_intercept:
            alpha = np.append(alpha, np.zeros(self.n_classes))
        return alpha

    def cross_term(self, x, lam, q):
        """``d12_h^T q``: for each group m, ``sum_{(j,k) in G_m} alpha_jk W_jk Q_jk``.

        Parameters
        ----------
        x, q : ndarray of shape (n_coef,)
        lam : ndarray of shape (n_hyperparams,)

        Returns
        -------
        ndarray of shape (n_hyperparams,)
        """
        size = self._coef_groups.size
        alpha = np.exp(np.asarray(lam, dtype=np.float64))[self._coef_groups]
        return np.bincount(self._coef_groups, weights=alpha * x[:size] * q[:size],
                           minlength=self.n_hyperparams).astype(np.float64)

    def coefficients(self, x):
        """Split ``x`` into ``W`` of shape ``(n_features, K)`` and ``b`` (K,).

        Parameters
        ----------
        x : ndarray of shape (n_coef,)

        Returns
        -------
        W : ndarray of shape (n_features, n_classes)
        b : ndarray of shape (n_classes,)
            Zeros without an intercept.
        """
        size = self._coef_groups.size
        W = np.asarray(x[:size]).reshape(-1, self.n_classes)
        b = (np.array(x[size:]) if self.fit_intercept
             else np.zeros(self.n_classes))
        return W, b


def _coefficient_groups(groups, p, K):
    """The checked ``groups`` and the group of each coefficient (length p K)."""
    if groups is None:
        groups = np.zeros(p, dtype=np.intp)
    groups = np.asarray(groups)
    if groups.shape not in ((p,), (p, K)) or not np.issubdtype(
            groups.dtype, np.integer):
        raise ValueError(
            f"groups must be an integer array of shape ({p},) (one group per "
            f"feature) or ({p}, {K}) (one per coefficient), got {groups.dtype} "
            f"array of shape {groups.shape}"
        )
    if groups.size and groups.min() < 0:
        raise ValueError("groups must be non-negative")
    per_coef = groups if groups.ndim == 2 else np.repeat(groups[:, None], K, axis=1)
    return groups, np.ascontiguousarray(per_coef, dtype=np.intp).ravel()
