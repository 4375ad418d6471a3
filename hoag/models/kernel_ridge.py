"""Kernel ridge regression with an RBF kernel as a HOAG problem.

Two hyperparameters, ``lam = (log gamma, log mu)``: the width of the Gaussian
kernel ``K_ij = exp(-gamma ||a_i - a_j||^2)`` and the ridge ``mu`` (scikit-learn's
``alpha``). With dual coefficients ``c`` (HOAG.md, "Kernel ridge regression")::

    h(c, lam) = 1/2 c^T (K + mu I) c - c^T y     x(lam) solves (K + mu I) c = y
    H         = K + mu I
    d12_h^T q = ( -gamma q^T (D2 * K) c ,  mu q.c )
    g(c, lam) = 1/n_val ||y_val - K_val c||^2     (mean squared error)
    d1_g      = -2/n_val K_val^T r,               r = y_val - K_val c
    d2_g      = ( 2 gamma/n_val r^T (D2_val * K_val) c ,  0 )

``D2`` holds squared distances and ``*`` is the elementwise product, so that
``dK/dgamma = -D2 * K``; the factor ``gamma`` comes from differentiating in
``log gamma``. The validation criterion is the MEAN squared error over the
validation rows (HOAG.md writes the sum): its scale does not depend on the
size of the validation part, so the outer tolerances and the k-fold mean mean
the same thing on any data set; the minimiser is the same.

Sample weights. Training weights ``w`` make the inner problem scikit-learn's
weighted kernel ridge, ``min_f sum_i w_i (y_i - f(a_i))^2 + mu ||f||^2``. With
``S = diag(sqrt(w))`` the problem is solved in the scaled variable
``x = S^{-1} c`` (defined also where a weight is zero)::

    (S K S + mu I) x = S y,        c = S x

so every formula above holds with ``K`` replaced by ``S K S``, ``y`` by
``S y`` and ``K_val`` by ``K_val S``. Validation weights ``v`` (normalised to
sum 1) make ``g = sum_i v_i r_i^2`` the weighted mean squared error.

Storage. The inner and Hessian systems are solved by conjugate gradient on the
compiled operator ``K + mu I``. Before any ``n x n`` array is allocated the
memory is estimated and one of three layouts chosen within ``memory_budget``:

``"full"``
    ``D2``, ``K``, ``D2_val`` and ``K_val`` stored: a change of ``gamma`` costs
    one ``exp`` per entry, the gamma products read two stored matrices.
``"kernel"``
    ``K`` and ``K_val`` stored; the gamma products recompute ``D2`` in tiles.
``"matrix-free"``
    nothing of size ``n x n``: every product computes kernel tiles on the fly
    (``n^2 p`` operations per product instead of ``n^2``).
"""

import functools
import logging
import math
import os

import numpy as np

from .. import _core
from .._outer import SolveInfo
from .._threads import one_blas_thread
from .._validation import check_rows, check_target
from ._rebuild import RebuiltOnUnpickle, constructor_arguments

__all__ = ["KernelRidgeProblem", "default_memory_budget", "memory_estimate"]

logger = logging.getLogger(__name__)

STORAGES = ("full", "kernel", "matrix-free")
# Share of the memory available when the problem is built that the stored
# matrices may take by default: the rest is left to the caller and to other
# processes (the folds of a k-fold criterion divide this share between them).
_BUDGET_SHARE = 0.5
# Budget when the available memory cannot be read (non-POSIX systems).
_FALLBACK_BUDGET = 2 * 1024**3
# Nystrom rank of the default preconditioner (bench/bench_krr.py measures it).
_DEFAULT_RANK = 200


def default_memory_budget():
    """Default byte budget of the stored kernel matrices.

    Returns
    -------
    int
        Half of the physical memory available now (``sysconf``), or 2 GiB when
        it cannot be read.
    """
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_BUDGET
    if available <= 0:
        return _FALLBACK_BUDGET
    return int(_BUDGET_SHARE * available)


def memory_estimate(n_train, n_val, storage):
    """Bytes of the ``n x n`` and ``n_val x n`` matrices a layout stores.

    ``8 (2 n^2 + 2 n_val n)`` for ``"full"``, ``8 (n^2 + n_val n)`` for
    ``"kernel"``, 0 for ``"matrix-free"`` (its workspace is ``O((n + n_val) p)``).

    Parameters
    ----------
    n_train, n_val : int
        Numbers of training and validation rows.
    storage : {"full", "kernel", "matrix-free"}

    Returns
    -------
    int
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
    per_matrix = 8 * (int(n_train) ** 2 + int(n_val) * int(n_train))
    return {"full": 2 * per_matrix, "kernel": per_matrix, "matrix-free": 0}[storage]


def _format_bytes(n_bytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.4g} {unit}" if unit != "B" else f"{n_bytes} B"
        n_bytes /= 1024
    return f"{n_bytes} B"  # pragma: no cover


def _check_bounds(name, bounds):
    try:
        low, high = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair of positive floats, got {bounds!r}"
        ) from None
    if not (0 < low <= high < math.inf):
        raise ValueError(
            f"{name} must satisfy 0 < lower <= upper < inf, got {bounds!r}"
        )
    return math.log(low), math.log(high)


def _single_blas(method):
    """Decorator: the method's NumPy/LAPACK work on one BLAS thread."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return method(*args, **kwargs)

    return wrapper


class KernelRidgeProblem(RebuiltOnUnpickle):
    """HOAG oracles of RBF kernel ridge regression on one train/validation split.

    Implements :class:`hoag.HOAGProblem` with ``lam = (log gamma, log mu)``,
    the formulas in the module docstring. For fixed ``lam`` the solution is
    scikit-learn's ``KernelRidge(kernel="rbf", gamma=gamma, alpha=mu)``.

    Parameters
    ----------
    X_train, X_val : array-like of shape (n_train, p), (n_val, p)
        Dense rows, float32 or float64 (other dtypes become float64). Copied
        into a contiguous layout with a transposed copy; never written.
    y_train, y_val : array-like of shape (n_train,), (n_val,)
        Real targets.
    gamma_bounds, alpha_bounds : pair of float
        Boxes of ``gamma`` and ``mu``; :attr:`bounds` gives them in ``lam``
        units for :func:`hoag.hoag`.
    storage : {"auto", "full", "kernel", "matrix-free"}, default="auto"
        Layout of the kernel matrices (module docstring). "auto" takes the
        first of "full", "kernel", "matrix-free" that fits ``memory_budget``;
        a named layout that does not fit raises ``MemoryError``.
    memory_budget : int or None
        Bytes the stored matrices may take; None: :func:`default_memory_budget`.
    preconditioner : bool or int, default=True
        Precondition conjugate gradient with a Nystrom approximation of ``K``
        of rank 200 (True), of the given rank (int), or not at all (False or
        0); see :meth:`_preconditioner`.
    max_inner_iter, max_linear_iter : int or None
        Iteration caps of the conjugate-gradient solves; None: ``max(1000, n)``.
    n_threads : int or None
        Threads of the compiled kernels; None lets them decide by data size.
    sample_weight_train, sample_weight_val : array-like or None
        Non-negative sample weights of the two parts (module docstring); None
        means ones. The variable ``x`` of the oracles is then ``S^{-1} c``:
        :meth:`dual_coef` maps it to the dual coefficients.

    Attributes
    ----------
    n_hyperparams : int
        2: ``log gamma`` and ``log mu``.
    bounds : ndarray of shape (2, 2)
        ``[[log gamma_low, log gamma_high], [log mu_low, log mu_high]]``.
    storage : str
        The layout used.
    memory_needed : int
        Bytes of the stored matrices of that layout.
    grad_scale : float
        ``s = ||S y_train||``, the gradient norm of ``h`` at ``x = 0``: the
        reference of the relative inner tolerance.
    """

    n_hyperparams = 2

    def __init__(self, X_train, y_train, X_val, y_val, *, gamma_bounds=(1e-6, 1e4),
                 alpha_bounds=(1e-8, 1e4), storage="auto", memory_budget=None,
                 preconditioner=True, max_inner_iter=None, max_linear_iter=None,
                 n_threads=None, sample_weight_train=None, sample_weight_val=None):
        self._arguments = constructor_arguments(locals())
        # 1. Data, checked before any kernel runs: rows as compiled Points,
        # targets as float64 vectors.
        X_train = check_rows(X_train, "X_train", accept_sparse=False)
        X_val = check_rows(X_val, "X_val", accept_sparse=False)
        if X_val.shape[1] != X_train.shape[1]:
            raise ValueError(
                f"X_val has {X_val.shape[1]} features, X_train has "
                f"{X_train.shape[1]}"
            )
        y_train = check_target(y_train, X_train.shape[0], "y_train")
        y_val = check_target(y_val, X_val.shape[0], "y_val")
        bounds = np.array([_check_bounds("gamma_bounds", gamma_bounds),
                           _check_bounds("alpha_bounds", alpha_bounds)])
        self.train = _core.Points(X_train)
        self.val = _core.Points(X_val)
        if self.train.is32 != self.val.is32:
            self.train = _core.Points(np.asarray(self.train.array, np.float64))
            self.val = _core.Points(np.asarray(self.val.array, np.float64))
        n, n_val = self.train.n, self.val.n
        self.y = self._target(y_train, n, "y_train")
        self.y_val = self._target(y_val, n_val, "y_val")
        if n == 0 or n_val == 0:
            raise ValueError("the training and validation parts must be non-empty")
        self.sqrt_weight = None
        if sample_weight_train is not None:
            w = self._weights(sample_weight_train, n, "sample_weight_train")
            self.sqrt_weight = np.sqrt(w)
        v = (np.ones(n_val) if sample_weight_val is None
             else self._weights(sample_weight_val, n_val, "sample_weight_val"))
        if not v.sum() > 0:
            raise ValueError("sample_weight_val must have a positive sum")
        self.val_weight = v / v.sum()
        self._y_scaled = self._scale(self.y)
        self.bounds = bounds

        # 2. Memory estimate and layout, before anything n x n is allocated.
        budget = default_memory_budget() if memory_budget is None else memory_budget
        if not (isinstance(budget, (int, np.integer, float)) and budget >= 0):
            raise ValueError(f"memory_budget must be a non-negative number of "
                             f"bytes, got {memory_budget!r}")
        self.memory_budget = int(budget)
        self.storage = self._choose_storage(storage, n, n_val)
        self.memory_needed = memory_estimate(n, n_val, self.storage)
        logger.debug("kernel ridge: %s layout, %s of %s budget", self.storage,
                     _format_bytes(self.memory_needed),
                     _format_bytes(self.memory_budget))

        # 3. Stored matrices (gamma-free distances now, kernels per gamma).
        self.n_threads = n_threads
        self.D2 = self.D2_val = self.K = self.K_val = None
        if self.storage == "full":
            self.D2 = _core.squared_distances(self.train, n_threads=n_threads)
            self.D2_val = _core.squared_distances(self.val, self.train,
                                                  n_threads=n_threads)
        if self.storage in ("full", "kernel"):
            self.K = np.empty((n, n))
            self.K_val = np.empty((n_val, n))
        self.gamma = None
        self.mu = None
        self.op = None
        if preconditioner is True:
            preconditioner = _DEFAULT_RANK
        if preconditioner is False or preconditioner is None:
            preconditioner = 0
        if not (isinstance(preconditioner, (int, np.integer))
                and preconditioner >= 0):
            raise ValueError(f"preconditioner must be a bool or a non-negative "
                             f"rank, got {preconditioner!r}")
        self.preconditioner_rank = int(preconditioner)
        self.use_preconditioner = self.preconditioner_rank > 0
        self._precond = None
        self._landmarks = None

        cap = max(1000, n)
        self.max_inner_iter = cap if max_inner_iter is None else int(max_inner_iter)
        self.max_linear_iter = cap if max_linear_iter is None else int(max_linear_iter)
        self.grad_scale = float(np.linalg.norm(self._y_scaled)) or 1.0

    # ------------------------------------------------------------------
    @staticmethod
    def _target(y, n, name):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity")
        return y.copy()

    @staticmethod
    def _weights(w, n, name):
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{name} must be finite and non-negative")
        return w.copy()

    def _scale(self, v):
        """``S v``: v itself without training weights."""
        return v if self.sqrt_weight is None else self.sqrt_weight * v

    def dual_coef(self, x):
        """Dual coefficients ``c = S x`` of the oracles' variable ``x``.

        Parameters
        ----------
        x : ndarray of shape (n_train,)

        Returns
        -------
        ndarray of shape (n_train,)
            A new array (``x`` itself is not returned, so it can be kept).
        """
        return np.array(self._scale(np.asarray(x, dtype=np.float64)))

    def _choose_storage(self, storage, n, n_val):
        options = ("auto",) + STORAGES
        if storage not in options:
            raise ValueError(f"storage must be one of {options}, got {storage!r}")
        if storage == "auto":
            for layout in STORAGES:
                if memory_estimate(n, n_val, layout) <= self.memory_budget:
                    return layout
        needed = memory_estimate(n, n_val, storage)
        if needed > self.memory_budget:
            raise MemoryError(
                f"storage={storage!r} needs {_format_bytes(needed)} ({needed} "
                f"bytes) for {n} training and {n_val} validation rows, above "
                f"memory_budget={self.memory_budget} bytes; raise memory_budget "
                f"or choose storage='kernel' (half that) or 'matrix-free' (none)"
            )
        return storage

    def hyperparameters(self, lam):
        """``(gamma, mu) = exp(lam)``.

        Parameters
        ----------
        lam : array-like of shape (2,)

        Returns
        -------
        gamma, mu : float
        """
        lam = np.asarray(lam, dtype=np.float64)
        return float(math.exp(lam[0])), float(math.exp(lam[1]))

    def _set_lam(self, lam):
        """Refresh the kernels when gamma changes, the ridge when mu changes."""
        gamma, mu = self.hyperparameters(lam)
        if gamma != self.gamma:
            nt = self.n_threads
            if self.storage == "full":
                _core.rbf_from_sqdist(self.D2, gamma, out=self.K, n_threads=nt)
                _core.rbf_from_sqdist(self.D2_val, gamma, out=self.K_val,
                                      n_threads=nt)
            elif self.storage == "kernel":
                _core.rbf_kernel(self.train, gamma=gamma, out=self.K, n_threads=nt)
                _core.rbf_kernel(self.val, self.train, gamma=gamma, out=self.K_val,
                                 n_threads=nt)
            self._precond = None
        if self.op is None:
            self.op = _core.KernelRidgeOperator(self.train, gamma, mu, K=self.K,
                                                n_threads=self.n_threads,
                                                sqrt_weight=self.sqrt_weight)
        else:
            self.op.set_params(gamma, mu)
        self.gamma, self.mu = gamma, mu

    # ------------------------------------------------------------------
    # Products with the kernels at the current gamma

    @_single_blas
    def kernel_times(self, v):
        """``K v`` (training kernel).

        Parameters
        ----------
        v : ndarray of shape (n_train,)

        Returns
        -------
        ndarray of shape (n_train,)
        """
        if self.K is not None:
            return self.K @ v
        return _core.rbf_products(self.train, self.train, self.gamma, v, dk=False,
                                  n_threads=self.n_threads)[0]

    def _dk_times(self, v):
        """``(D2 * K) v = -(dK/dgamma) v`` for the training kernel."""
        if self.storage == "full":
            return _core.hadamard_matvec(self.D2, self.K, v, n_threads=self.n_threads)
        if self.storage == "kernel":
            return _core.d2k_matvec(self.K, self.train, self.train, v,
                                    n_threads=self.n_threads)
        return _core.rbf_products(self.train, self.train, self.gamma, v,
                                  n_threads=self.n_threads)[1]

    def _val_products(self, c):
        """``K_val c`` and ``(D2_val * K_val) c``."""
        nt = self.n_threads
        if self.storage == "full":
            return self.K_val @ c, _core.hadamard_matvec(self.D2_val, self.K_val, c,
                                                         n_threads=nt)
        if self.storage == "kernel":
            return self.K_val @ c, _core.d2k_matvec(self.K_val, self.val,
                                                    self.train, c, n_threads=nt)
        return _core.rbf_products(self.val, self.train, self.gamma, c, n_threads=nt)

    def _val_transpose_times(self, r):
        """``K_val^T r``."""
        if self.K_val is not None:
            return r @ self.K_val
        return _core.rbf_products(self.train, self.val, self.gamma, r, dk=False,
                                  n_threads=self.n_threads)[0]

    @_single_blas
    def predict_validation(self, x, lam):
        """Validation predictions ``K_val S x`` at ``lam``.

        Parameters
        ----------
        x : ndarray of shape (n_train,)
            The oracles' variable (the dual coefficients without weights).
        lam : array-like of shape (2,)

        Returns
        -------
        ndarray of shape (n_val,)
        """
        self._set_lam(lam)
        return self._val_products(self.dual_coef(x))[0]

    # ------------------------------------------------------------------
    # The oracles

    def _cg(self, b, x0, tol_abs, max_iter):
        x = (np.zeros(self.train.n) if x0 is None
             else np.array(x0, dtype=np.float64))
        precond = self._preconditioner() if self.use_preconditioner else None
        n_iter, res, status = _core.cg(self.op, b, x, tol_abs, max_iter=max_iter,
                                       preconditioner=precond)
        return x, n_iter, res, status

    @_single_blas
    def inner_solve(self, lam, x0, tol):
        """Conjugate gradient on ``(S K S + mu I) x = S y`` to ``||grad h|| <= tol s``.

        ``grad h = (S K S + mu I) x - S y`` is the CG residual, ``s = ||S y||``
        (``S = I`` without training weights).

        Parameters
        ----------
        lam : ndarray of shape (2,)
        x0 : ndarray of shape (n_train,) or None
            Warm start (not modified); None starts from zero.
        tol : float
            Tolerance relative to :attr:`grad_scale`.

        Returns
        -------
        x : ndarray of shape (n_train,)
        info : SolveInfo
        """
        self._set_lam(lam)
        x, n_iter, res, status = self._cg(self._y_scaled, x0, tol * self.grad_scale,
                                          self.max_inner_iter)
        info = SolveInfo(n_iter=n_iter, residual=res / self.grad_scale,
                         converged=status == 0, message=_core.STATUS_MESSAGES[status])
        return x, info

    @_single_blas
    def outer_value_grad(self, x, lam):
        """Validation MSE ``g = sum_i v_i r_i^2``, ``d1_g`` and ``d2_g``.

        With ``c = S x``, ``r = y_val - K_val c`` and ``V = diag(v)`` (``v = 1 /
        n_val`` without validation weights): ``d1_g = -2 S K_val^T V r`` and
        ``d2_g = (2 gamma r^T V (D2_val * K_val) c, 0)``.

        Parameters
        ----------
        x : ndarray of shape (n_train,)
        lam : ndarray of shape (2,)

        Returns
        -------
        g : float
        d1_g : ndarray of shape (n_train,)
        d2_g : ndarray of shape (2,)
        """
        self._set_lam(lam)
        c = self.dual_coef(x)

        k_c, dk_c = self._val_products(c)
        r = self.y_val - k_c
        vr = self.val_weight * r
        g = float(vr @ r)

        d1_g = -2.0 * self._scale(self._val_transpose_times(vr))
        d2_g = np.array([2.0 * self.gamma * float(vr @ dk_c), 0.0])
        return g, d1_g, d2_g

    @_single_blas
    def hessian_solve(self, x, lam, b, q0, tol):
        """Conjugate gradient on ``(S K S + mu I) q = b`` to a relative residual.

        Stops when ``||H q - b|| <= tol ||b||``.

        The Hessian does not depend on ``x``: it is the matrix of the inner
        system, so the same operator (and preconditioner) serves both solves.

        Parameters
        ----------
        x : ndarray of shape (n_train,)
        lam : ndarray of shape (2,)
        b : ndarray of shape (n_train,)
        q0 : ndarray or None
            Warm start (not modified); None starts from zero.
        tol : float
            Relative residual tolerance.

        Returns
        -------
        q : ndarray of shape (n_train,)
        info : SolveInfo
        """
        self._set_lam(lam)
        b_norm = float(np.linalg.norm(b))
        if b_norm == 0.0:
            return np.zeros(self.train.n), SolveInfo(0, 0.0, True,
                                                     "zero right-hand side")
        q, n_iter, res, status = self._cg(b, q0, tol * b_norm, self.max_linear_iter)
        info = SolveInfo(n_iter=n_iter, residual=res / b_norm, converged=status == 0,
                         message=_core.STATUS_MESSAGES[status])
        return q, info

    @_single_blas
    def cross_term(self, x, lam, q):
        """``d12_h^T q = (-gamma (S q)^T (D2 * K) (S x), mu q.x)``.

        Parameters
        ----------
        x, q : ndarray of shape (n_train,)
        lam : ndarray of shape (2,)

        Returns
        -------
        ndarray of shape (2,)
        """
        self._set_lam(lam)
        x = np.asarray(x, dtype=np.float64)
        q = np.asarray(q, dtype=np.float64)
        dk_c = self._dk_times(self._scale(x))
        return np.array([-self.gamma * float(self._scale(q) @ dk_c),
                         self.mu * float(q @ x)])

    def _preconditioner(self):
        """The Nystrom preconditioner at the current (gamma, mu), built on first use.

        Landmarks ``S`` (``rank`` training rows drawn once, seed 0) give the
        Nystrom approximation ``K ~ C W^+ C^T`` with ``C = K[:, S]`` and
        ``W = K[S, S]``; written as ``U diag(d) U^T`` (``U`` orthonormal, from a
        QR of ``C W^{-1/2}``), it makes ``P = U diag(d) U^T + mu I``. With
        training weights the same is done for ``S K S``, whose columns ``S``
        are ``C`` scaled by the weights' square roots on both sides. Since
        ``C W^+ C^T <= K``, the preconditioned spectrum is bounded below by 1 and
        CG needs about ``sqrt(1 + lambda_{r+1}(K) / mu)`` times fewer passes.
        ``U`` and ``d`` depend on gamma only: a change of mu alone is free.
        """
        if self._precond is not None:
            if self._precond.mu != self.mu:
                self._precond.set_mu(self.mu)
            return self._precond
        n = self.train.n
        if self._landmarks is None:
            rng = np.random.default_rng(0)
            rank = min(n, self.preconditioner_rank)
            self._landmarks = np.sort(rng.choice(n, size=rank, replace=False))
            self._landmark_points = _core.Points(
                np.asarray(self.train.array)[self._landmarks])
        S = self._landmarks
        if self.K is not None:
            C = self.K[:, S]
        else:
            C = _core.rbf_kernel(self.train, self._landmark_points, gamma=self.gamma,
                                 n_threads=self.n_threads)
        if self.sqrt_weight is not None:
            C = self.sqrt_weight[:, None] * C * self.sqrt_weight[S]

        # W^{-1/2} on the numerically non-null part of W (eigenvalues below
        # 1e-12 of the largest are rounding noise of a near-singular W).
        w, V = np.linalg.eigh(C[S])
        keep = w > 1e-12 * w[-1]
        F = C @ (V[:, keep] / np.sqrt(w[keep]))
        Q, R = np.linalg.qr(F)
        d, Z = np.linalg.eigh(R @ R.T)
        self._precond = _core.LowRankPreconditioner(Q @ Z, np.maximum(d, 0.0),
                                                    self.mu)
        return self._precond
