"""NumPy/SciPy transcriptions of the compiled kernels, shared by the kernel tests.

``LogisticReference`` computes, in float64 and with SciPy's sparse products,

    h(x)   = sum_i s_i log(1 + exp(-y_i z_i)) + 1/2 sum_j alpha_j x_j^2
    grad h = A^T r + alpha x,           r_i = -s_i y_i sigmoid(-y_i z_i)
    H v    = A^T (d * (A v)) + alpha v, d_i = s_i sigmoid(z_i) (1 - sigmoid(z_i))
    diag H = sum_i d_i a_ij^2 + alpha_j

with z = A w + b and the intercept as a column of ones in A.
``MultinomialReference`` computes, with ``W`` of shape (p, K) and ``Z = A W + b``,

    h(x)   = sum_i s_i (logsumexp(Z_i) - Z_{i, y_i}) + 1/2 sum alpha * x^2
    grad h = (A^T R, 1^T R) + alpha x,   R = s * (softmax(Z) - onehot(y))
    H v    = (A^T M, 1^T M) + alpha v,   M_i = s_i (diag(P_i) - P_i P_i^T) U_i

with ``U = A V + c`` for ``v = (V.ravel(), c)``. Both use only SciPy's stable
``expit``, ``logsumexp`` and ``softmax``, so no margin overflows.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logsumexp, softmax


class LogisticReference:
    """The logistic oracles of ``BinaryLogistic`` in NumPy/SciPy, float64."""

    def __init__(self, X, y, alpha, sample_weight=None, fit_intercept=True):
        self.X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else (
            np.asarray(X, dtype=np.float64))
        self.y = np.asarray(y, dtype=np.float64)
        self.s = (np.ones_like(self.y) if sample_weight is None
                  else np.asarray(sample_weight, dtype=np.float64))
        self.fit_intercept = fit_intercept
        self.p = self.X.shape[1]
        self.alpha = np.broadcast_to(alpha, (self.p + fit_intercept,)).copy()
        if fit_intercept:
            self.alpha[-1] = 0.0

    def margins(self, x):
        """z = A w + b."""
        b = x[self.p] if self.fit_intercept else 0.0
        return self.X @ x[: self.p] + b

    def transpose_times(self, u):
        """A^T u, with the intercept column last."""
        out = self.X.T @ u
        return np.append(out, u.sum()) if self.fit_intercept else out

    def loss(self, x):
        yz = self.y * self.margins(x)
        # log(1 + exp(-yz)) = logsumexp([0, -yz]) row by row, stable
        data = np.sum(self.s * logsumexp(np.stack([np.zeros_like(yz), -yz]), axis=0))
        return data + 0.5 * np.sum(self.alpha * x**2)

    def residuals(self, x):
        yz = self.y * self.margins(x)
        return -self.s * self.y * expit(-yz)

    def grad(self, x):
        return self.transpose_times(self.residuals(x)) + self.alpha * x

    def curvature(self, x):
        z = self.margins(x)
        return self.s * expit(z) * expit(-z)

    def hvp(self, x, v):
        d = self.curvature(x)
        return self.transpose_times(d * self.margins(v)) + self.alpha * v

    def hessian_diagonal(self, x):
        d = self.curvature(x)
        sq = self.X.multiply(self.X) if sp.issparse(self.X) else self.X**2
        out = np.asarray(sq.T @ d).ravel()
        if self.fit_intercept:
            out = np.append(out, d.sum())
        return out + self.alpha


class MultinomialReference:
    """The softmax oracles of ``Multinomial`` in NumPy/SciPy, float64."""

    def __init__(self, X, y, K, alpha, sample_weight=None, fit_intercept=True):
        self.X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else (
            np.asarray(X, dtype=np.float64))
        self.y = np.asarray(y, dtype=int)
        self.K = K
        self.s = (np.ones(self.y.size) if sample_weight is None
                  else np.asarray(sample_weight, dtype=np.float64))
        self.fit_intercept = fit_intercept
        self.p = self.X.shape[1]
        rows = self.p + fit_intercept
        self.alpha = np.broadcast_to(alpha, (rows * K,)).reshape(rows, K).copy()
        if fit_intercept:
            self.alpha[-1] = 0.0
        self.alpha = self.alpha.ravel()
        self.onehot = np.eye(K)[self.y]

    def scores(self, x):
        """Z = A W + b, shape (n, K)."""
        W = x[: self.p * self.K].reshape(self.p, self.K)
        b = x[self.p * self.K:] if self.fit_intercept else np.zeros(self.K)
        return np.asarray(self.X @ W) + b

    def transpose_times(self, M):
        """(A^T M, 1^T M) flattened in the order of x."""
        out = np.asarray(self.X.T @ M)
        if self.fit_intercept:
            out = np.vstack([out, M.sum(axis=0)])
        return out.ravel()

    def loss(self, x):
        Z = self.scores(x)
        data = np.sum(self.s * (logsumexp(Z, axis=1) - Z[np.arange(len(Z)), self.y]))
        return data + 0.5 * np.sum(self.alpha * x**2)

    def residuals(self, x):
        return self.s[:, None] * (softmax(self.scores(x), axis=1) - self.onehot)

    def grad(self, x):
        return self.transpose_times(self.residuals(x)) + self.alpha * x

    def hvp(self, x, v):
        P = softmax(self.scores(x), axis=1)
        U = self.scores(v)
        M = self.s[:, None] * P * (U - np.sum(P * U, axis=1, keepdims=True))
        return self.transpose_times(M) + self.alpha * v


def assert_close(actual, desired, rtol):
    """Elementwise rtol, with an absolute floor of rtol times the largest entry.

    Gradient entries that nearly cancel carry the rounding of the large terms
    that make them, so a pure relative test would ask more than float64 has.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape
    assert np.all(np.isfinite(actual))
    scale = np.max(np.abs(desired)) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)
