# Multinomial (softmax) logistic regression: loss, gradient and Hessian-vector
# product over K classes.
#
#   h(x) = sum_i s_i (logsumexp(z_i) - z_{i, y_i}) + 1/2 sum_{j,k} alpha_jk x_jk^2,
#   z_i = a_i W + b  (K values),   x = (W.ravel(), b),  W of shape (p, K).
#
# Feature j's K coefficients are the contiguous slice x[j K:(j + 1) K], so a row
# of A touches contiguous blocks of x, and the intercept row b comes last.
# alpha has one entry per coefficient (0 for the intercept): one penalty, one per
# feature shared by the classes, one per coefficient or any grouping are the
# same kernel.


cdef inline void _row_times_mat(const floating* vals, const int* ind,
                                const int* indptr, bint csr, Py_ssize_t i,
                                Py_ssize_t p, Py_ssize_t K, const double* W,
                                const double* b, double* z) noexcept nogil:
    """z = a_i W + b (b may be NULL): K values."""
    cdef Py_ssize_t j, k, kk
    cdef double a
    cdef const floating* row
    cdef const double* Wj
    for k in range(K):
        z[k] = b[k] if b != NULL else 0.0
    if csr:
        for kk in range(indptr[i], indptr[i + 1]):
            a = vals[kk]
            Wj = W + ind[kk] * K
            for k in range(K):
                z[k] += a * Wj[k]
    else:
        row = vals + i * p
        for j in range(p):
            a = row[j]
            # images are mostly zeros: skipping them halves the work on MNIST
            if a != 0.0:
                Wj = W + j * K
                for k in range(K):
                    z[k] += a * Wj[k]


cdef inline void _row_outer_add(const floating* vals, const int* ind,
                                const int* indptr, bint csr, Py_ssize_t i,
                                Py_ssize_t p, Py_ssize_t K, const double* m,
                                double* G) noexcept nogil:
    """G += a_i^T m (G of shape (p, K), row-major)."""
    cdef Py_ssize_t j, k, kk
    cdef double a
    cdef const floating* row
    cdef double* Gj
    if csr:
        for kk in range(indptr[i], indptr[i + 1]):
            a = vals[kk]
            Gj = G + ind[kk] * K
            for k in range(K):
                Gj[k] += a * m[k]
    else:
        row = vals + i * p
        for j in range(p):
            a = row[j]
            if a != 0.0:
                Gj = G + j * K
                for k in range(K):
                    Gj[k] += a * m[k]


cdef inline double _softmax_row(double* z, Py_ssize_t K, Py_ssize_t label,
                                double wi) noexcept nogil:
    """Loss s_i (logsumexp(z) - z_label); z becomes s_i (softmax(z) - e_label).

    The maximum is subtracted before exp, so no margin overflows.
    """
    cdef Py_ssize_t k
    cdef double zmax = z[0]
    cdef double total = 0.0
    cdef double lse, loss
    for k in range(1, K):
        if z[k] > zmax:
            zmax = z[k]
    for k in range(K):
        total += exp(z[k] - zmax)
    lse = zmax + log(total)
    loss = wi * (lse - z[label])
    for k in range(K):
        z[k] = wi * exp(z[k] - lse)
    z[label] -= wi
    return loss


cdef inline void _softmax_inplace(double* z, Py_ssize_t K) noexcept nogil:
    """z becomes softmax(z), the maximum subtracted before exp.

    Not _softmax_row with the label's 1 added back: P - 1 + 1 would keep only
    an absolute accuracy of eps on a small probability.
    """
    cdef Py_ssize_t k
    cdef double zmax = z[0]
    cdef double total = 0.0
    cdef double lse
    for k in range(1, K):
        if z[k] > zmax:
            zmax = z[k]
    for k in range(K):
        total += exp(z[k] - zmax)
    lse = zmax + log(total)
    for k in range(K):
        z[k] = exp(z[k] - lse)


cdef double _multinomial_loss_grad(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, Py_ssize_t K, const int* y, const double* sw,
    const double* x, bint fit_intercept, double* R, double* buf,
    double* chunk_loss, Py_ssize_t n_coef, int nt, int n_chunks, double* g,
) noexcept nogil:
    """Data term of h and its gradient A^T R in one pass over the rows.

    R (n x K) receives R_ik = s_i (softmax(z_i)_k - [y_i == k]); g receives
    A^T R followed, with an intercept, by the column sums of R. Each of the
    n_chunks row chunks sums into its own n_coef doubles of buf and its own
    entry of chunk_loss, added in chunk order: the same bits for any nt.
    """
    cdef Py_ssize_t c, i, i0, i1, k
    # rows of a chunk; i0, i1 are assigned in the loop so that they are private
    cdef Py_ssize_t per = (n + n_chunks - 1) // n_chunks
    cdef double part
    cdef const double* b = x + p * K if fit_intercept else NULL
    cdef double* gt
    cdef double* zi

    memset(buf, 0, n_chunks * n_coef * sizeof(double))
    for c in prange(n_chunks, schedule="static", num_threads=nt):
        gt = buf + c * n_coef
        part = 0.0
        i0 = min(n, c * per)
        i1 = min(n, i0 + per)
        for i in range(i0, i1):
            # row i of R is the workspace of z_i, then holds its residuals
            zi = R + i * K
            _row_times_mat(vals, ind, indptr, csr, i, p, K, x, b, zi)
            part = part + _softmax_row(zi, K, y[i], sw[i] if sw != NULL else 1.0)
            _row_outer_add(vals, ind, indptr, csr, i, p, K, zi, gt)
            if fit_intercept:
                for k in range(K):
                    gt[p * K + k] += zi[k]
        chunk_loss[c] = part
    _reduce_buffers(buf, n_chunks, n_coef, g)
    return _sum_in_order(chunk_loss, n_chunks)


cdef void _multinomial_probabilities(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, Py_ssize_t K, const double* x,
    bint fit_intercept, int nt, double* P,
) noexcept nogil:
    """P_ik = softmax(z_i)_k, the Hessian weights at x."""
    cdef Py_ssize_t i
    cdef const double* b = x + p * K if fit_intercept else NULL
    cdef double* zi
    for i in prange(n, schedule="static", num_threads=nt):
        zi = P + i * K
        _row_times_mat(vals, ind, indptr, csr, i, p, K, x, b, zi)
        _softmax_inplace(zi, K)


cdef inline void _softmax_jacobian_row(const double* P, const double* u,
                                       Py_ssize_t K, double wi,
                                       double* m) noexcept nogil:
    """m = s_i (diag(P_i) - P_i P_i^T) u, the softmax Jacobian times u."""
    cdef Py_ssize_t k
    cdef double c = 0.0
    for k in range(K):
        c += P[k] * u[k]
    for k in range(K):
        m[k] = wi * P[k] * (u[k] - c)


cdef void _multinomial_hvp(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, Py_ssize_t K, const double* sw, const double* P,
    const double* v, bint fit_intercept, double* buf, double* tmp,
    Py_ssize_t n_coef, int nt, int n_chunks, double* out,
) noexcept nogil:
    """out = A^T M (data part of H v), M_i = s_i (diag(P_i) - P_i P_i^T) (a_i V + c).

    V and c are the coefficient and intercept parts of v; tmp holds
    n_chunks * 2K doubles of per-chunk workspace. Chunked as the gradient.
    """
    cdef Py_ssize_t c, i, i0, i1, k
    cdef Py_ssize_t per = (n + n_chunks - 1) // n_chunks
    cdef const double* vb = v + p * K if fit_intercept else NULL
    cdef double* ot
    cdef double* u
    cdef double* m

    memset(buf, 0, n_chunks * n_coef * sizeof(double))
    for c in prange(n_chunks, schedule="static", num_threads=nt):
        ot = buf + c * n_coef
        u = tmp + c * 2 * K
        m = u + K
        i0 = min(n, c * per)
        i1 = min(n, i0 + per)
        for i in range(i0, i1):
            _row_times_mat(vals, ind, indptr, csr, i, p, K, v, vb, u)
            _softmax_jacobian_row(P + i * K, u, K, sw[i] if sw != NULL else 1.0, m)
            _row_outer_add(vals, ind, indptr, csr, i, p, K, m, ot)
            if fit_intercept:
                for k in range(K):
                    ot[p * K + k] += m[k]
    _reduce_buffers(buf, n_chunks, n_coef, out)


cdef class Multinomial(Objective):
    """Penalised multinomial (softmax) logistic loss over dense or CSR rows.

    Computes, for coefficients ``x = (W.ravel(), b)`` with ``W`` of shape
    ``(p, K)`` and ``b`` of length ``K`` (only with ``fit_intercept``)::

        h(x)   = sum_i s_i (logsumexp(z_i) - z_{i, y_i}) + 1/2 sum alpha * x^2
        z_i    = a_i W + b
        grad h = (A^T R, 1^T R) + alpha * x,   R_ik = s_i (P_ik - [y_i == k])
        H v    = (A^T M, 1^T M) + alpha * v,
        M_i    = s_i (diag(P_i) - P_i P_i^T) (a_i V + c)

    with ``P_i = softmax(z_i)`` and ``v = (V.ravel(), c)``. The intercept has
    ``alpha = 0``. Shifting every class by the same amount leaves the data term
    unchanged, so with an intercept ``H`` is singular along ``b = (t, ..., t)``;
    gradients and the right-hand sides of HOAG have zero class sums there, so
    L-BFGS from zero and CG never move along it.

    Parameters
    ----------
    X : ndarray (n, p) C-contiguous, or CSR; float32 or float64
        Training rows ``a_i``; kept by reference, never written.
    y : array-like (n,)
        Class indices in ``0 .. n_classes - 1`` (integers, any numeric dtype).
    n_classes : int or None
        Number of classes ``K >= 2``; None means ``max(y) + 1``.
    sample_weight : array-like (n,) or None
        Non-negative weights ``s_i``; None means all ones.
    fit_intercept : bool
        Append an unpenalised intercept per class after the coefficients.
    n_threads : int or None
        OpenMP threads; None uses all of them on large data and one on small data.

    Attributes
    ----------
    n : int
        Number of coefficients, ``(p + fit_intercept) * K``.
    n_classes : int
        ``K``.
    alpha : ndarray (n,)
        Penalty per coefficient, in the order of ``x``; assign a scalar, an array
        of shape ``(n,)`` or one broadcastable to ``(p + fit_intercept, K)``.
    """
    cdef readonly Rows rows
    cdef readonly bint fit_intercept
    cdef readonly int n_threads
    cdef readonly Py_ssize_t n_classes
    cdef int n_chunks
    cdef const int[::1] y
    cdef const double[::1] sw
    cdef double[::1] _alpha
    cdef double[::1] R
    cdef double[::1] P
    cdef double[::1] buf
    cdef double[::1] tmp
    cdef double[::1] chunk_loss
    cdef bint has_sw
    cdef object _keep

    def __init__(self, X, y, n_classes=None, sample_weight=None, fit_intercept=True,
                 n_threads=None):
        self.rows = Rows(X)
        yy = np.asarray(y)
        if yy.ndim != 1 or yy.shape[0] != self.rows.n:
            raise ValueError(f"y must have shape ({self.rows.n},), got {yy.shape}")
        if yy.dtype.kind not in "iuf" or (
                yy.size and not np.all(np.isfinite(yy) & (yy == np.round(yy)))):
            raise ValueError("y must hold integer class indices 0 .. n_classes - 1")
        if n_classes is None:
            n_classes = int(yy.max()) + 1 if yy.size else 2
        n_classes = int(n_classes)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if yy.size and (yy.min() < 0 or yy.max() >= n_classes):
            raise ValueError(f"y must hold class indices in [0, {n_classes}), got "
                             f"values from {yy.min()} to {yy.max()}")
        labels = np.ascontiguousarray(yy, dtype=np.intc)
        self.y = labels
        self.n_classes = n_classes
        self.has_sw = sample_weight is not None
        if self.has_sw:
            ww = np.ascontiguousarray(sample_weight, dtype=np.float64)
            if ww.shape != labels.shape:
                raise ValueError(f"sample_weight must have shape {labels.shape}, "
                                 f"got {ww.shape}")
            if not np.all(np.isfinite(ww) & (ww >= 0)):
                raise ValueError("sample_weight must be finite and non-negative")
            self.sw = ww
        else:
            ww = np.ones(0)
            self.sw = ww
        self._keep = (labels, ww)
        self.fit_intercept = fit_intercept
        self.n = (self.rows.p + (1 if fit_intercept else 0)) * n_classes
        self._alpha = np.zeros(self.n)
        self.R = np.zeros(max(self.rows.n * n_classes, 1))
        self.P = np.zeros(max(self.rows.n * n_classes, 1))
        # Threads by stored values, as for the binary kernels, though a row costs
        # K times more here: on the shared 2-core machine two threads on digits
        # (900 x 64, K = 10) took 10.8 ms per gradient against 0.7 ms for one.
        self.n_threads = _resolve_threads(n_threads, self.rows.nnz)
        self.n_chunks = _n_chunks(self.n_threads)
        self.buf = np.zeros(self.n_chunks * max(self.n, 1))
        self.tmp = np.zeros(self.n_chunks * 2 * n_classes)
        self.chunk_loss = np.zeros(self.n_chunks)

    @property
    def alpha(self):
        return np.asarray(self._alpha)

    @alpha.setter
    def alpha(self, value):
        value = np.asarray(value, dtype=np.float64)
        shape = (self.rows.p + self.fit_intercept, self.n_classes)
        if value.ndim == 1 and value.shape[0] == self.n:
            a = value.reshape(shape).copy()
        else:
            try:
                a = np.broadcast_to(value, shape).copy()
            except ValueError:
                raise ValueError(f"alpha of shape {value.shape} fits neither "
                                 f"({self.n},) nor {shape}") from None
        if self.fit_intercept:
            a[-1] = 0.0
        self._alpha = a.ravel()

    @property
    def residuals(self):
        """R (n, K) from the last ``value_grad`` call (derivative of the loss in z)."""
        return np.asarray(self.R)[:self.rows.n * self.n_classes].reshape(
            self.rows.n, self.n_classes)

    @property
    def probabilities(self):
        """P (n, K), the softmax at the last ``set_hessian_point`` call."""
        return np.asarray(self.P)[:self.rows.n * self.n_classes].reshape(
            self.rows.n, self.n_classes)

    cdef const double* _sw_ptr(self) noexcept nogil:
        # No rows, no weights to point at (&sw[0] of an empty view is out of bounds).
        return &self.sw[0] if self.has_sw and self.sw.shape[0] > 0 else NULL

    cdef double loss_grad(self, const double* x, double* g) noexcept nogil:
        cdef double loss
        cdef Py_ssize_t j
        cdef const int* y = &self.y[0] if self.rows.n > 0 else NULL
        if self.rows.is32:
            loss = _multinomial_loss_grad(
                self.rows.v32, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, self.n_classes, y,
                self._sw_ptr(), x, self.fit_intercept, &self.R[0], &self.buf[0],
                &self.chunk_loss[0], self.n, self.n_threads, self.n_chunks, g)
        else:
            loss = _multinomial_loss_grad(
                self.rows.v64, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, self.n_classes, y,
                self._sw_ptr(), x, self.fit_intercept, &self.R[0], &self.buf[0],
                &self.chunk_loss[0], self.n, self.n_threads, self.n_chunks, g)
        for j in range(self.n):
            loss += 0.5 * self._alpha[j] * x[j] * x[j]
            g[j] += self._alpha[j] * x[j]
        return loss

    cdef void set_point(self, const double* x) noexcept nogil:
        if self.rows.is32:
            _multinomial_probabilities(self.rows.v32, self.rows.ind,
                                       self.rows.indptr, self.rows.csr,
                                       self.rows.n, self.rows.p,
                                       self.n_classes, x, self.fit_intercept,
                                       self.n_threads, &self.P[0])
        else:
            _multinomial_probabilities(self.rows.v64, self.rows.ind,
                                       self.rows.indptr, self.rows.csr,
                                       self.rows.n, self.rows.p,
                                       self.n_classes, x, self.fit_intercept,
                                       self.n_threads, &self.P[0])

    cdef void matvec(self, const double* v, double* out) noexcept nogil:
        cdef Py_ssize_t j
        if self.rows.is32:
            _multinomial_hvp(self.rows.v32, self.rows.ind, self.rows.indptr,
                             self.rows.csr, self.rows.n, self.rows.p,
                             self.n_classes, self._sw_ptr(), &self.P[0], v,
                             self.fit_intercept, &self.buf[0], &self.tmp[0],
                             self.n, self.n_threads, self.n_chunks, out)
        else:
            _multinomial_hvp(self.rows.v64, self.rows.ind, self.rows.indptr,
                             self.rows.csr, self.rows.n, self.rows.p,
                             self.n_classes, self._sw_ptr(), &self.P[0], v,
                             self.fit_intercept, &self.buf[0], &self.tmp[0],
                             self.n, self.n_threads, self.n_chunks, out)
        for j in range(self.n):
            out[j] += self._alpha[j] * v[j]
