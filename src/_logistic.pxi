# Binary logistic regression: loss, gradient and Hessian-vector product.
#
#   h(x) = sum_i s_i log(1 + exp(-y_i z_i)) + 1/2 sum_j alpha_j x_j^2,
#   z_i = a_i . w + b,   x = (w, b) when there is an intercept, else x = w.
#
# alpha has one entry per coefficient (0 for the intercept), so a single penalty,
# one per feature and any grouping are the same kernel.


cdef double _logistic_loss_grad(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, const double* y, const double* sw,
    const double* x, bint fit_intercept, double* r, double* buf,
    double* chunk_loss, Py_ssize_t n_coef, int nt, int n_chunks, double* g,
) noexcept nogil:
    """Data term of h and its gradient A^T r in one pass over the rows.

    r_i = -s_i y_i sigmoid(-y_i z_i) is written to r; g receives A^T r (and
    sum_i r_i as its last entry with an intercept). Each of the n_chunks row
    chunks sums into its own n_coef doubles of buf and its own entry of
    chunk_loss, added in chunk order: the same bits for any nt.
    """
    cdef Py_ssize_t c, i, i0, i1
    # rows of a chunk; i0, i1 are assigned in the loop so that they are private
    cdef Py_ssize_t per = (n + n_chunks - 1) // n_chunks
    cdef double b = x[p] if fit_intercept else 0.0
    cdef double yz, e, sig, wi, ri, part
    cdef double* gt

    memset(buf, 0, n_chunks * n_coef * sizeof(double))
    for c in prange(n_chunks, schedule="static", num_threads=nt):
        gt = buf + c * n_coef
        part = 0.0
        i0 = min(n, c * per)
        i1 = min(n, i0 + per)
        for i in range(i0, i1):
            yz = y[i] * (_row_dot(vals, ind, indptr, csr, i, p, x) + b)
            wi = sw[i] if sw != NULL else 1.0

            # log(1 + exp(-yz)) = max(-yz, 0) + log1p(e) with e = exp(-|yz|), and
            # sigmoid(-yz) from the same e: no overflow for any margin. Every
            # temporary is assigned here (not through a pointer) so that prange
            # makes it thread-private.
            e = exp(-fabs(yz))
            sig = e / (1.0 + e) if yz >= 0 else 1.0 / (1.0 + e)
            part = part + wi * ((-yz if yz < 0 else 0.0) + log1p(e))

            ri = -wi * y[i] * sig
            r[i] = ri
            _row_axpy(ri, vals, ind, indptr, csr, i, p, gt)
            if fit_intercept:
                gt[p] += ri
        chunk_loss[c] = part
    _reduce_buffers(buf, n_chunks, n_coef, g)
    return _sum_in_order(chunk_loss, n_chunks)


cdef void _logistic_curvature(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, const double* sw, const double* x,
    bint fit_intercept, int nt, double* dw,
) noexcept nogil:
    """dw_i = s_i sigmoid(z_i) (1 - sigmoid(z_i)), the Hessian weights at x."""
    cdef Py_ssize_t i
    cdef double b = x[p] if fit_intercept else 0.0
    cdef double z, e
    for i in prange(n, schedule="static", num_threads=nt):
        z = _row_dot(vals, ind, indptr, csr, i, p, x) + b
        # sigmoid(z)(1 - sigmoid(z)) = e / (1 + e)^2 with e = exp(-|z|): no overflow
        e = exp(-fabs(z))
        dw[i] = e / ((1.0 + e) * (1.0 + e))
        if sw != NULL:
            dw[i] = dw[i] * sw[i]


cdef void _logistic_hvp(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, const double* dw, const double* v,
    bint fit_intercept, double* buf, Py_ssize_t n_coef, int nt, int n_chunks,
    double* out,
) noexcept nogil:
    """out = A^T (dw * (A v)) (data part of H v), chunked as the gradient."""
    cdef Py_ssize_t c, i, i0, i1
    # rows of a chunk; i0, i1 are assigned in the loop so that they are private
    cdef Py_ssize_t per = (n + n_chunks - 1) // n_chunks
    cdef double vb = v[p] if fit_intercept else 0.0
    cdef double t
    cdef double* ot

    memset(buf, 0, n_chunks * n_coef * sizeof(double))
    for c in prange(n_chunks, schedule="static", num_threads=nt):
        ot = buf + c * n_coef
        i0 = min(n, c * per)
        i1 = min(n, i0 + per)
        for i in range(i0, i1):
            t = dw[i] * (_row_dot(vals, ind, indptr, csr, i, p, v) + vb)
            _row_axpy(t, vals, ind, indptr, csr, i, p, ot)
            if fit_intercept:
                ot[p] += t
    _reduce_buffers(buf, n_chunks, n_coef, out)


cdef void _weighted_sq_colsum(
    const floating* vals, const int* ind, const int* indptr, bint csr,
    Py_ssize_t n, Py_ssize_t p, const double* dw, bint fit_intercept,
    double* out,
) noexcept nogil:
    """out_j = sum_i dw_i a_ij^2 (the diagonal of A^T diag(dw) A), serial."""
    cdef Py_ssize_t i
    memset(out, 0, (p + fit_intercept) * sizeof(double))
    for i in range(n):
        _row_axpy_sq(dw[i], vals, ind, indptr, csr, i, p, out)
        if fit_intercept:
            out[p] += dw[i]


cdef class BinaryLogistic(Objective):
    """Penalised binary logistic loss over dense or CSR rows, float32 or float64.

    Computes, for coefficients ``x = (w, b)`` (``b`` only with ``fit_intercept``)::

        h(x) = sum_i s_i log(1 + exp(-y_i (a_i . w + b))) + 1/2 sum_j alpha_j x_j^2
        grad h = A^T r + alpha * x,     r_i = -s_i y_i sigmoid(-y_i z_i)
        H v    = A^T (d * (A v)) + alpha * v,   d_i = s_i sigmoid(z_i)(1 - sigmoid(z_i))

    (the intercept enters ``A`` as a column of ones and has ``alpha = 0``).

    Parameters
    ----------
    X : ndarray (n, p) C-contiguous, or CSR; float32 or float64
        Training rows ``a_i``; kept by reference, never written.
    y : array-like (n,)
        Labels in {-1, +1}.
    sample_weight : array-like (n,) or None
        Non-negative weights ``s_i``; None means all ones.
    fit_intercept : bool
        Append an unpenalised intercept as the last coefficient.
    n_threads : int or None
        OpenMP threads; None uses all of them on large data and one on small data.

    Attributes
    ----------
    n : int
        Number of coefficients, ``p + fit_intercept``.
    alpha : ndarray (n,)
        Penalty per coefficient; write into it (or assign) to change the penalty.
    """
    cdef readonly Rows rows
    cdef readonly bint fit_intercept
    cdef readonly int n_threads
    cdef int n_chunks
    cdef const double[::1] y
    cdef const double[::1] sw
    cdef double[::1] _alpha
    cdef double[::1] r
    cdef double[::1] dw
    cdef double[::1] buf
    cdef double[::1] chunk_loss
    cdef bint has_sw
    cdef object _keep

    def __init__(self, X, y, sample_weight=None, fit_intercept=True, n_threads=None):
        self.rows = Rows(X)
        yy = np.ascontiguousarray(y, dtype=np.float64)
        if yy.ndim != 1 or yy.shape[0] != self.rows.n:
            raise ValueError(f"y must have shape ({self.rows.n},), got {yy.shape}")
        if yy.shape[0] and not np.all(np.abs(yy) == 1.0):
            raise ValueError("y must contain only -1 and +1")
        self.y = yy
        self.has_sw = sample_weight is not None
        if self.has_sw:
            ww = np.ascontiguousarray(sample_weight, dtype=np.float64)
            if ww.shape != yy.shape:
                raise ValueError(f"sample_weight must have shape {yy.shape}, "
                                 f"got {ww.shape}")
            if not np.all(np.isfinite(ww) & (ww >= 0)):
                raise ValueError("sample_weight must be finite and non-negative")
            self.sw = ww
        else:
            ww = np.ones(0)
            self.sw = ww
        self._keep = (yy, ww)
        self.fit_intercept = fit_intercept
        self.n = self.rows.p + (1 if fit_intercept else 0)
        self._alpha = np.zeros(self.n)
        self.r = np.zeros(self.rows.n)
        self.dw = np.zeros(self.rows.n)
        self.n_threads = _resolve_threads(n_threads, self.rows.nnz)
        self.n_chunks = _n_chunks(self.n_threads)
        self.buf = np.zeros(self.n_chunks * max(self.n, 1))
        self.chunk_loss = np.zeros(self.n_chunks)

    @property
    def alpha(self):
        return np.asarray(self._alpha)

    @alpha.setter
    def alpha(self, value):
        a = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n,)).copy()
        if self.fit_intercept:
            a[-1] = 0.0
        self._alpha = a

    @property
    def residuals(self):
        """r from the last ``value_grad`` call (derivative of the loss in z)."""
        return np.asarray(self.r)

    @property
    def curvature(self):
        """d from the last ``set_hessian_point`` call."""
        return np.asarray(self.dw)

    cdef const double* _sw_ptr(self) noexcept nogil:
        # No rows, no weights to point at (&sw[0] of an empty view is out of bounds).
        return &self.sw[0] if self.has_sw and self.sw.shape[0] > 0 else NULL

    cdef double loss_grad(self, const double* x, double* g) noexcept nogil:
        cdef double loss
        cdef Py_ssize_t j
        cdef double* r = &self.r[0] if self.rows.n > 0 else NULL
        cdef const double* y = &self.y[0] if self.rows.n > 0 else NULL
        if self.rows.is32:
            loss = _logistic_loss_grad(
                self.rows.v32, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, y, self._sw_ptr(), x, self.fit_intercept,
                r, &self.buf[0], &self.chunk_loss[0], self.n, self.n_threads,
                self.n_chunks, g)
        else:
            loss = _logistic_loss_grad(
                self.rows.v64, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, y, self._sw_ptr(), x, self.fit_intercept,
                r, &self.buf[0], &self.chunk_loss[0], self.n, self.n_threads,
                self.n_chunks, g)
        for j in range(self.n):
            loss += 0.5 * self._alpha[j] * x[j] * x[j]
            g[j] += self._alpha[j] * x[j]
        return loss

    cdef void set_point(self, const double* x) noexcept nogil:
        cdef double* dw = &self.dw[0] if self.rows.n > 0 else NULL
        if self.rows.is32:
            _logistic_curvature(
                self.rows.v32, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, self._sw_ptr(), x, self.fit_intercept,
                self.n_threads, dw)
        else:
            _logistic_curvature(
                self.rows.v64, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, self._sw_ptr(), x, self.fit_intercept,
                self.n_threads, dw)

    cdef void matvec(self, const double* v, double* out) noexcept nogil:
        cdef Py_ssize_t j
        cdef double* dw = &self.dw[0] if self.rows.n > 0 else NULL
        if self.rows.is32:
            _logistic_hvp(
                self.rows.v32, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, dw, v, self.fit_intercept, &self.buf[0],
                self.n, self.n_threads, self.n_chunks, out)
        else:
            _logistic_hvp(
                self.rows.v64, self.rows.ind, self.rows.indptr, self.rows.csr,
                self.rows.n, self.rows.p, dw, v, self.fit_intercept, &self.buf[0],
                self.n, self.n_threads, self.n_chunks, out)
        for j in range(self.n):
            out[j] += self._alpha[j] * v[j]

    def hessian_diagonal(self):
        """Diagonal of H at the last Hessian point: sum_i d_i a_ij^2 + alpha_j."""
        cdef Rows R = self.rows
        out = np.empty(self.n)
        cdef double[::1] ov = out
        cdef double* dw = &self.dw[0] if R.n > 0 else NULL
        if self.n == 0:
            return out
        with nogil:
            if R.is32:
                _weighted_sq_colsum(R.v32, R.ind, R.indptr, R.csr, R.n, R.p, dw,
                                    self.fit_intercept, &ov[0])
            else:
                _weighted_sq_colsum(R.v64, R.ind, R.indptr, R.csr, R.n, R.p, dw,
                                    self.fit_intercept, &ov[0])
        return out + self.alpha
