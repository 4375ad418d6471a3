"""l2-regularised binary logistic regression as a HOAG problem.

With labels ``y_i`` in {-1, +1}, training rows ``a_i``, coefficients ``x = (w, b)``
and hyperparameters ``lam`` (penalty ``alpha_j = exp(lam[G_j])`` for coefficient
``j`` in group ``G_j``; one group by default)::

    h(x, lam) = sum_i s_i log(1 + exp(-y_i z_i)) + 1/2 sum_j alpha_j w_j^2
    g(x)      = sum_i v_i log(1 + exp(-y'_i z'_i)) / sum_i v_i   (validation rows)
    H         = A^T diag(d) A + diag(alpha),   d_i = s_i sigma(z_i)(1 - sigma(z_i))
    d12_h^T q = (sum_{j in G_k} alpha_j w_j q_j)_k,   d2_g = 0

``z_i = a_i . w + b``; the intercept ``b`` is never penalised. In scikit-learn's
spelling ``C = 1 / alpha`` (its objective is ``C`` times the data term plus
``1/2 ||w||^2``, which has the same minimiser).
"""

import numpy as np

from .. import _core
from .._outer import SolveInfo
from .._validation import check_rows, check_sample_weight, check_target
from ._rebuild import RebuiltOnUnpickle, constructor_arguments

__all__ = ["LogisticProblem"]


def _check_split(X_train, y_train, X_val, y_val, sample_weight_train,
                 sample_weight_val, dtype):
    """The checked arrays of one split, by argument name.

    Rows as :func:`hoag._validation.check_rows` returns them, targets finite
    and one per row (``dtype=None`` keeps theirs), weights non-negative and not
    all zero (validation weights default to ones), the same number of features
    in both parts.
    """
    data = {"X_train": check_rows(X_train, "X_train"),
            "X_val": check_rows(X_val, "X_val")}
    if data["X_val"].shape[1] != data["X_train"].shape[1]:
        raise ValueError(
            f"X_val has {data['X_val'].shape[1]} features, X_train has "
            f"{data['X_train'].shape[1]}"
        )
    for part, y in (("train", y_train), ("val", y_val)):
        X = data[f"X_{part}"]
        data[f"y_{part}"] = check_target(y, X.shape[0], f"y_{part}", dtype=dtype)
    data["sample_weight_train"] = (
        None if sample_weight_train is None
        else check_sample_weight(sample_weight_train, data["X_train"],
                                 "sample_weight_train"))
    data["sample_weight_val"] = check_sample_weight(
        sample_weight_val, data["X_val"], "sample_weight_val")
    return data


class LogisticProblem(RebuiltOnUnpickle):
    """HOAG oracles of l2-logistic regression on one train/validation split.

    Implements :class:`hoag.HOAGProblem`: the inner problem is solved by the
    compiled L-BFGS (warm-started, with its curvature memory kept across calls
    and corrected for the change of penalty), the Hessian system by conjugate
    gradient on compiled Hessian-vector products.

    Parameters
    ----------
    X_train, X_val : ndarray or CSR matrix, float32 or float64
        Training and validation rows; dense input must be C-contiguous. Kept by
        reference and never written.
    y_train, y_val : ndarray of shape (n_train,), (n_val,)
        Labels in {-1, +1}.
    sample_weight_train, sample_weight_val : ndarray or None
        Non-negative sample weights ``s_i`` and ``v_i``; None means ones.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept.
    groups : ndarray of int of shape (n_features,) or None
        Hyperparameter index of each feature's penalty; None gives one
        hyperparameter for all features.
    max_inner_iter : int, default=1000
        Iteration cap of each L-BFGS solve.
    max_linear_iter : int, default=1000
        Iteration cap of each conjugate-gradient solve.
    n_threads : int or None
        Threads of the compiled kernels; None lets them decide by data size.

    Attributes
    ----------
    n_hyperparams : int
        Number of hyperparameters (groups).
    n_coef : int
        Length of ``x``: ``n_features + fit_intercept``.
    grad_scale : float
        ``s = ||grad_x h(0, lam)||``, the reference of the relative inner
        tolerance (independent of ``lam`` since the penalty gradient is 0 at 0).
    """

    def __init__(self, X_train, y_train, X_val, y_val, *, sample_weight_train=None,
                 sample_weight_val=None, fit_intercept=True, groups=None,
                 max_inner_iter=1000, max_linear_iter=1000, n_threads=None):
        self._arguments = constructor_arguments(locals())
        data = _check_split(X_train, y_train, X_val, y_val, sample_weight_train,
                            sample_weight_val, dtype=np.float64)
        for name in ("y_train", "y_val"):
            values = np.unique(data[name])
            if not np.all(np.abs(values) == 1.0):
                raise ValueError(f"{name} must hold the labels -1 and +1 only, got "
                                 f"{values[np.abs(values) != 1.0][:3].tolist()}")
        self.train = _core.BinaryLogistic(
            data["X_train"], data["y_train"],
            sample_weight=data["sample_weight_train"],
            fit_intercept=fit_intercept, n_threads=n_threads,
        )

        # Validation weights normalised to sum 1: g is the mean held-out loss.
        v = data["sample_weight_val"]
        self.val = _core.BinaryLogistic(
            data["X_val"], data["y_val"], sample_weight=v / v.sum(),
            fit_intercept=fit_intercept, n_threads=n_threads,
        )

        self.fit_intercept = bool(fit_intercept)
        self.n_coef = self.train.n
        n_features = self.train.rows.p
        if groups is None:
            groups = np.zeros(n_features, dtype=np.intp)
        groups = np.asarray(groups)
        if groups.shape != (n_features,) or not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(
                f"groups must be an integer array of shape ({n_features},), got "
                f"{groups.dtype} array of shape {groups.shape}"
            )
        if n_features and (groups.min() < 0):
            raise ValueError("groups must be non-negative")
        self.groups = groups
        self.n_hyperparams = int(groups.max()) + 1 if n_features else 1
        self._init_solver_state(max_inner_iter, max_linear_iter)

    def _init_solver_state(self, max_inner_iter, max_linear_iter):
        """Iteration caps, the L-BFGS memory kept across solves, the scale s."""
        self.max_inner_iter = int(max_inner_iter)
        self.max_linear_iter = int(max_linear_iter)

        self.memory = _core.LBFGSMemory(self.n_coef)
        self._memory_alpha = np.zeros(self.n_coef)
        # The scale of the relative tolerances: ||grad_x h(0)||.
        _, grad0 = self.train.value_grad(np.zeros(self.n_coef))
        self.grad_scale = float(np.linalg.norm(grad0)) or 1.0
        self._lam = None

    def _solver_state(self):
        """What a solve leaves behind for the next: the L-BFGS memory, its penalty.

        :class:`hoag.MeanOverFolds` carries it to and from process workers,
        where the problem is rebuilt from its constructor arguments.
        """
        return self.memory, self._memory_alpha

    def _restore_solver_state(self, state):
        self.memory, self._memory_alpha = state

    # ------------------------------------------------------------------
    def penalty(self, lam):
        """Penalty per coefficient ``alpha_j = exp(lam[G_j])`` (0 for the intercept).

        Parameters
        ----------
        lam : ndarray of shape (n_hyperparams,)

        Returns
        -------
        ndarray of shape (n_coef,)
        """
        alpha = np.exp(np.asarray(lam, dtype=np.float64))[self.groups]
        if self.fit_intercept:
            alpha = np.append(alpha, 0.0)
        return alpha

    def _set_lam(self, lam):
        """Set the training penalty for ``lam`` (cheap when it is unchanged)."""
        lam = np.asarray(lam, dtype=np.float64)
        if self._lam is None or not np.array_equal(lam, self._lam):
            self.train.alpha = self.penalty(lam)
            self._lam = lam.copy()

    def inner_solve(self, lam, x0, tol):
        """L-BFGS on ``h(., lam)`` from ``x0`` until ``||grad_x h|| <= tol * s``.

        The curvature pairs of earlier solves are kept: a change of penalty
        alpha -> alpha' only adds ``(alpha' - alpha) s_k`` to each ``y_k``, which
        keeps them exact (see ``LBFGSMemory.shift_penalty``).

        Parameters
        ----------
        lam : ndarray of shape (n_hyperparams,)
        x0 : ndarray of shape (n_coef,) or None
            Warm start (not modified); None starts from zero.
        tol : float
            Tolerance relative to :attr:`grad_scale`.

        Returns
        -------
        x : ndarray of shape (n_coef,)
        info : SolveInfo
        """
        self._set_lam(lam)
        alpha = np.asarray(self.train.alpha)
        if not np.array_equal(alpha, self._memory_alpha):
            self.memory.shift_penalty(alpha - self._memory_alpha)
            self._memory_alpha = alpha.copy()
        x = np.zeros(self.n_coef) if x0 is None else np.array(x0, dtype=np.float64)
        _, gnorm, n_iter, _, status = _core.lbfgs(
            self.train, x, tol * self.grad_scale, max_iter=self.max_inner_iter,
            memory=self.memory,
        )
        info = SolveInfo(
            n_iter=n_iter, residual=gnorm / self.grad_scale, converged=status == 0,
            message=_core.STATUS_MESSAGES[status],
        )
        return x, info

    def outer_value_grad(self, x, lam):
        """Mean validation log loss ``g(x)``, its gradient in ``x``, and ``d2_g = 0``.

        Parameters
        ----------
        x : ndarray of shape (n_coef,)
        lam : ndarray of shape (n_hyperparams,)

        Returns
        -------
        g : float
        d1_g : ndarray of shape (n_coef,)
        d2_g : ndarray of shape (n_hyperparams,)
        """
        g, d1_g = self.val.value_grad(x)
        return float(g), d1_g, np.zeros(self.n_hyperparams)

    def hessian_solve(self, x, lam, b, q0, tol):
        """Conjugate gradient on ``H q = b`` until ``||H q - b|| <= tol ||b||``.

        Parameters
        ----------
        x : ndarray of shape (n_coef,)
            Point of the Hessian.
        lam : ndarray of shape (n_hyperparams,)
        b : ndarray of shape (n_coef,)
        q0 : ndarray or None
            Warm start (not modified); None starts from zero.
        tol : float
            Relative residual tolerance.

        Returns
        -------
        q : ndarray of shape (n_coef,)
        info : SolveInfo
        """
        self._set_lam(lam)
        self.train.set_hessian_point(x)
        q = np.zeros(self.n_coef) if q0 is None else np.array(q0, dtype=np.float64)
        b_norm = float(np.linalg.norm(b))
        if b_norm == 0.0:
            info = SolveInfo(0, 0.0, True, "zero right-hand side")
            return np.zeros(self.n_coef), info
        n_iter, res, status = _core.cg(
            self.train, b, q, tol * b_norm, max_iter=self.max_linear_iter
        )
        info = SolveInfo(
            n_iter=n_iter, residual=res / b_norm, converged=status == 0,
            message=_core.STATUS_MESSAGES[status],
        )
        return q, info

    def cross_term(self, x, lam, q):
        """``d12_h^T q``: for each group k, ``sum_{j in G_k} alpha_j x_j q_j``.

        Parameters
        ----------
        x, q : ndarray of shape (n_coef,)
        lam : ndarray of shape (n_hyperparams,)

        Returns
        -------
        ndarray of shape (n_hyperparams,)
        """
        p = self.groups.shape[0]
        alpha = np.exp(np.asarray(lam, dtype=np.float64))[self.groups]
        return np.bincount(self.groups, weights=alpha * x[:p] * q[:p],
                           minlength=self.n_hyperparams).astype(np.float64)
