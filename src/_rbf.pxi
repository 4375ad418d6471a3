# RBF (Gaussian) kernel blocks and products for kernel ridge regression.
#
#   D2_ij = ||x_i - y_j||^2,   K_ij = exp(-gamma D2_ij),
#   dK/dgamma = -D2 * K (elementwise), never formed: the products
#   (D2 * K) v are taken directly, from stored D2 and K, from stored K with D2
#   recomputed tile by tile, or with both recomputed (matrix-free).
#
# Distances are summed coordinate by coordinate, sum_k (x_ik - y_jk)^2, not by
# ||x||^2 + ||y||^2 - 2 x.y: no cancellation, so D2 >= 0 exactly and D2_ii = 0.
# The second operand is stored transposed (p rows of length m) so that the
# innermost loop runs over contiguous columns j, without a reduction.

# Columns per tile: a tile of distances (4 KB) stays in L1 while the p rows of
# the transposed operand (p * 4 KB) stream from L2.
# Rows per parallel task when filling a matrix: the tile of Y^T is reused by
# that many rows before moving on.
cdef enum:
    _RBF_COLS = 512
    _RBF_ROWS = 16


cdef class Points:
    """Dense rows for the RBF kernels, with a transposed copy.

    Parameters
    ----------
    X : array-like of shape (n, p), float32 or float64
        Rows ``x_i``. Other dtypes are converted to float64; nothing is written to
        ``X``. Must be finite.

    Attributes
    ----------
    n, p : int
        Number of rows and of features.
    is32 : bool
        Whether the values are float32 (distances are still summed in float64).
    """
    cdef readonly Py_ssize_t n, p
    cdef readonly bint is32
    cdef const double* x64
    cdef const float* x32
    cdef const double* t64
    cdef const float* t32
    cdef object _keep

    def __init__(self, X):
        cdef const double[:, ::1] a64
        cdef const float[:, ::1] a32
        cdef const double[:, ::1] b64
        cdef const float[:, ::1] b32

        if sp.issparse(X):
            raise TypeError("the RBF kernels take dense rows; got a sparse matrix "
                            "(convert it with .toarray())")
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got {X.ndim} dimension(s)")
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        X = np.ascontiguousarray(X)
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        if X.shape[1] == 0:
            raise ValueError("X has no features (0 columns)")
        Xt = np.ascontiguousarray(X.T)
        self.n, self.p = X.shape[0], X.shape[1]
        self.is32 = X.dtype == np.float32
        self._keep = (X, Xt)
        if self.n * self.p == 0:
            return
        if self.is32:
            a32 = X
            b32 = Xt
            self.x32 = &a32[0, 0]
            self.t32 = &b32[0, 0]
        else:
            a64 = X
            b64 = Xt
            self.x64 = &a64[0, 0]
            self.t64 = &b64[0, 0]

    @property
    def array(self):
        """The rows as an (n, p) array (read-only use)."""
        return self._keep[0]


cdef inline void _sqdist_tile(const floating* x, const floating* Yt, Py_ssize_t m,
                              Py_ssize_t p, Py_ssize_t j0, Py_ssize_t nj,
                              double* out) noexcept nogil:
    """out[j] = ||x - y_{j0 + j}||^2 for j < nj; Yt is Y^T with rows of length m."""
    cdef Py_ssize_t j, k
    cdef double xk, t
    cdef const floating* yk
    memset(out, 0, nj * sizeof(double))
    for k in range(p):
        xk = x[k]
        yk = Yt + k * m + j0
        for j in range(nj):
            t = xk - yk[j]
            out[j] += t * t


cdef inline double _dot4(const double* a, const double* b,
                         Py_ssize_t n) noexcept nogil:
    """a . b with four partial sums (breaks the add latency chain)."""
    cdef Py_ssize_t j
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t n4 = n - n % 4
    for j in range(0, n4, 4):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
    for j in range(n4, n):
        s0 += a[j] * b[j]
    return (s0 + s1) + (s2 + s3)


cdef void _rbf_fill(const floating* X, Py_ssize_t n, const floating* Yt,
                    Py_ssize_t m, Py_ssize_t p, double gamma, bint do_exp,
                    int nt, double* out) noexcept nogil:
    """out (n x m, row-major) = D2, or exp(-gamma D2) when do_exp."""
    cdef Py_ssize_t ib, i, i1, jblk, jb, j, nj
    cdef Py_ssize_t nb = (n + _RBF_ROWS - 1) // _RBF_ROWS
    cdef double* row
    for ib in prange(nb, schedule="static", num_threads=nt):
        i1 = min(n, (ib + 1) * _RBF_ROWS)
        for jblk in range((m + _RBF_COLS - 1) // _RBF_COLS):
            jb = jblk * _RBF_COLS
            nj = min(_RBF_COLS, m - jb)
            for i in range(ib * _RBF_ROWS, i1):
                row = out + i * m + jb
                _sqdist_tile(X + i * p, Yt, m, p, jb, nj, row)
                if do_exp:
                    for j in range(nj):
                        row[j] = exp(-gamma * row[j])


cdef void _rbf_row_products(const floating* x, const floating* Yt, Py_ssize_t m,
                            Py_ssize_t p, double gamma, const double* v,
                            double* tile, double* out_k,
                            double* out_dk) noexcept nogil:
    """out_k = sum_j K_ij v_j and out_dk = sum_j D2_ij K_ij v_j for one row x."""
    cdef Py_ssize_t jblk, jb, j, nj
    cdef double acc_k = 0.0, acc_dk = 0.0, e
    for jblk in range((m + _RBF_COLS - 1) // _RBF_COLS):
        jb = jblk * _RBF_COLS
        nj = min(_RBF_COLS, m - jb)
        _sqdist_tile(x, Yt, m, p, jb, nj, tile)
        for j in range(nj):
            e = exp(-gamma * tile[j]) * v[jb + j]
            acc_k += e
            acc_dk += tile[j] * e
    out_k[0] = acc_k
    if out_dk != NULL:
        out_dk[0] = acc_dk


cdef void _rbf_gemv(const floating* X, Py_ssize_t n, const floating* Yt,
                    Py_ssize_t m, Py_ssize_t p, double gamma, const double* v,
                    double* buf, int nt, double* out_k,
                    double* out_dk) noexcept nogil:
    """Matrix-free K v and (D2 * K) v, K = K(X, Y); buf holds nt * _RBF_COLS."""
    cdef Py_ssize_t i
    cdef int tid
    cdef double* tile
    with parallel(num_threads=nt):
        tid = threadid()
        tile = buf + tid * _RBF_COLS
        for i in prange(n, schedule="static"):
            _rbf_row_products(X + i * p, Yt, m, p, gamma, v, tile, out_k + i,
                              out_dk + i if out_dk != NULL else NULL)


cdef double _d2k_row(const floating* x, const floating* Yt, Py_ssize_t m,
                     Py_ssize_t p, const double* K_row, const double* v,
                     double* tile) noexcept nogil:
    """sum_j D2_ij K_ij v_j for one row, D2 recomputed, K_ij read from K_row."""
    cdef Py_ssize_t jblk, jb, j, nj
    cdef double acc = 0.0
    for jblk in range((m + _RBF_COLS - 1) // _RBF_COLS):
        jb = jblk * _RBF_COLS
        nj = min(_RBF_COLS, m - jb)
        _sqdist_tile(x, Yt, m, p, jb, nj, tile)
        for j in range(nj):
            acc += tile[j] * K_row[jb + j] * v[jb + j]
    return acc


cdef void _d2k_gemv(const floating* X, Py_ssize_t n, const floating* Yt,
                    Py_ssize_t m, Py_ssize_t p, const double* K, const double* v,
                    double* buf, int nt, double* out) noexcept nogil:
    """out = (D2 * K) v with K stored (n x m) and D2 recomputed by tiles."""
    cdef Py_ssize_t i
    cdef int tid
    cdef double* tile
    with parallel(num_threads=nt):
        tid = threadid()
        tile = buf + tid * _RBF_COLS
        for i in prange(n, schedule="static"):
            out[i] = _d2k_row(X + i * p, Yt, m, p, K + i * m, v, tile)


cdef double _hadamard_row(const double* a, const double* b, const double* v,
                          Py_ssize_t m) noexcept nogil:
    """sum_j a_j b_j v_j."""
    cdef Py_ssize_t j
    cdef double acc = 0.0
    for j in range(m):
        acc += a[j] * b[j] * v[j]
    return acc


cdef void _dense_gemv(const double* A, Py_ssize_t n, Py_ssize_t m,
                      const double* v, int nt, double* out) noexcept nogil:
    """out = A v for a stored row-major (n x m) matrix."""
    cdef Py_ssize_t i
    for i in prange(n, schedule="static", num_threads=nt):
        out[i] = _dot4(A + i * m, v, m)


# ---------------------------------------------------------------------------
# Python entry points: check shapes, allocate outputs, release the GIL.


cdef Points _as_points(X):
    return X if isinstance(X, Points) else Points(X)


cdef tuple _pair(X, Y):
    """Points for X and Y in one dtype (float64 unless both are float32)."""
    cdef Points A = _as_points(X)
    cdef Points B = A if Y is None else _as_points(Y)
    if A.p != B.p:
        raise ValueError(f"X has {A.p} features but Y has {B.p}")
    if A.is32 != B.is32:
        if A.is32:
            A = Points(A.array.astype(np.float64))
        else:
            B = Points(B.array.astype(np.float64))
    return A, B


cdef object _out_matrix(out, Py_ssize_t n, Py_ssize_t m, str name):
    if out is None:
        return np.empty((n, m), dtype=np.float64)
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64
            and out.flags.c_contiguous and out.flags.writeable):
        raise TypeError(f"{name} must be a writeable C-contiguous float64 array")
    if out.shape != (n, m):
        raise ValueError(f"{name} has shape {out.shape}, expected ({n}, {m})")
    return out


cdef object _vector(v, Py_ssize_t m, str name):
    vv = np.ascontiguousarray(v, dtype=np.float64)
    if vv.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},), got {vv.shape}")
    return vv


cdef double _check_gamma(gamma) except -1.0:
    g = float(gamma)
    if not (np.isfinite(g) and g > 0):
        raise ValueError(f"gamma must be a positive finite float, got {gamma!r}")
    return g


def _fill(X, Y, gamma, bint do_exp, out, n_threads):
    cdef Points A, B
    A, B = _pair(X, Y)
    cdef double g = _check_gamma(gamma) if do_exp else 0.0
    out = _out_matrix(out, A.n, B.n, "out")
    cdef double[:, ::1] ov = out
    cdef int nt = _resolve_threads(n_threads, A.n * B.n * max(A.p, 1))
    if A.n == 0 or B.n == 0:
        return out
    with nogil:
        if A.is32:
            _rbf_fill(A.x32, A.n, B.t32, B.n, A.p, g, do_exp, nt, &ov[0, 0])
        else:
            _rbf_fill(A.x64, A.n, B.t64, B.n, A.p, g, do_exp, nt, &ov[0, 0])
    return out


def squared_distances(X, Y=None, out=None, n_threads=None):
    """Squared Euclidean distances ``D2_ij = ||x_i - y_j||^2``.

    Summed coordinate by coordinate in float64, in cache-sized tiles, rows in
    parallel; ``D2`` is non-negative and ``D2_ii = 0`` exactly when ``Y`` is
    ``X``.

    Parameters
    ----------
    X : array-like (n, p) or Points
        Rows ``x_i`` (float32 or float64).
    Y : array-like (m, p), Points or None
        Rows ``y_j``; None means ``X``.
    out : ndarray of float64, shape (n, m), optional
        Where to write the result (C-contiguous); allocated when None.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    return _fill(X, Y, None, False, out, n_threads)


def rbf_kernel(X, Y=None, gamma=1.0, out=None, n_threads=None):
    """Gaussian kernel block ``K_ij = exp(-gamma ||x_i - y_j||^2)``.

    Distances and exponentials are computed tile by tile without the GIL, rows
    in parallel; no distance matrix is stored besides the output.

    Parameters
    ----------
    X : array-like (n, p) or Points
        Rows ``x_i`` (float32 or float64; the result is float64 either way).
    Y : array-like (m, p), Points or None
        Rows ``y_j``; None means ``X``.
    gamma : float
        Positive kernel width parameter.
    out : ndarray of float64, shape (n, m), optional
        Where to write the result; allocated when None.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    return _fill(X, Y, gamma, True, out, n_threads)


def rbf_from_sqdist(D2, gamma, out=None, n_threads=None):
    """``K = exp(-gamma D2)`` elementwise, from stored squared distances.

    Parameters
    ----------
    D2 : ndarray of float64, shape (n, m), C-contiguous
        Squared distances (not modified unless it is also ``out``).
    gamma : float
        Positive kernel width parameter.
    out : ndarray of float64, shape (n, m), optional
        Where to write ``K`` (may be ``D2`` itself); allocated when None.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    if not (isinstance(D2, np.ndarray) and D2.dtype == np.float64 and D2.ndim == 2
            and D2.flags.c_contiguous):
        raise TypeError("D2 must be a C-contiguous float64 2-D array")
    cdef double g = _check_gamma(gamma)
    out = _out_matrix(out, D2.shape[0], D2.shape[1], "out")
    cdef const double[:, ::1] dv = D2
    cdef double[:, ::1] ov = out
    cdef Py_ssize_t size = D2.size, i
    cdef int nt = _resolve_threads(n_threads, size * 8)
    if size == 0:
        return out
    cdef const double* d = &dv[0, 0]
    cdef double* o = &ov[0, 0]
    with nogil:
        for i in prange(size, schedule="static", num_threads=nt):
            o[i] = exp(-g * d[i])
    return out


def rbf_products(X, Y, gamma, v, dk=True, n_threads=None):
    """Matrix-free ``K v`` and ``(D2 * K) v`` with ``K = K(X, Y)``.

    Each row's kernel values are computed in tiles and used at once; nothing
    of size ``n x m`` is stored. ``(D2 * K) v = -(dK/dgamma) v``.

    Parameters
    ----------
    X : array-like (n, p) or Points
        Rows ``x_i``.
    Y : array-like (m, p) or Points
        Rows ``y_j``.
    gamma : float
        Positive kernel width parameter.
    v : array-like of shape (m,)
        Vector to multiply.
    dk : bool, default=True
        Also return ``(D2 * K) v`` (same pass, one more multiply per entry).
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    Kv : ndarray of float64, shape (n,)
        ``sum_j exp(-gamma D2_ij) v_j``.
    DKv : ndarray of float64, shape (n,), or None
        ``sum_j D2_ij exp(-gamma D2_ij) v_j``; None when ``dk`` is false.
    """
    cdef Points A, B
    A, B = _pair(X, Y)
    cdef double g = _check_gamma(gamma)
    cdef const double[::1] vv = _vector(v, B.n, "v")
    out_k = np.zeros(A.n)
    out_dk = np.zeros(A.n) if dk else None
    cdef double[::1] ok = out_k
    cdef double[::1] odk
    cdef double* pdk = NULL
    if dk:
        odk = out_dk
        pdk = &odk[0] if A.n > 0 else NULL
    cdef int nt = _resolve_threads(n_threads, A.n * B.n * max(A.p, 1))
    cdef double[::1] buf = np.empty(nt * _RBF_COLS)
    if A.n == 0 or B.n == 0:
        return out_k, out_dk
    with nogil:
        if A.is32:
            _rbf_gemv(A.x32, A.n, B.t32, B.n, A.p, g, &vv[0], &buf[0], nt,
                      &ok[0], pdk)
        else:
            _rbf_gemv(A.x64, A.n, B.t64, B.n, A.p, g, &vv[0], &buf[0], nt,
                      &ok[0], pdk)
    return out_k, out_dk


def hadamard_matvec(A, B, v, n_threads=None):
    """``(A * B) v`` (elementwise product, then matrix-vector) without forming it.

    With ``A = D2`` and ``B = K`` stored this is ``-(dK/dgamma) v``.

    Parameters
    ----------
    A, B : ndarray of float64, shape (n, m), C-contiguous
        Stored matrices.
    v : array-like of shape (m,)
        Vector to multiply.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``sum_j A_ij B_ij v_j``.
    """
    for name, M in (("A", A), ("B", B)):
        if not (isinstance(M, np.ndarray) and M.dtype == np.float64 and M.ndim == 2
                and M.flags.c_contiguous):
            raise TypeError(f"{name} must be a C-contiguous float64 2-D array")
    if A.shape != B.shape:
        raise ValueError(f"A has shape {A.shape} but B has shape {B.shape}")
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1], i
    cdef const double[::1] vv = _vector(v, m, "v")
    out = np.zeros(n)
    if n == 0 or m == 0:
        return out
    cdef const double[:, ::1] av = A
    cdef const double[:, ::1] bv = B
    cdef double[::1] ov = out
    cdef int nt = _resolve_threads(n_threads, n * m * 2)
    with nogil:
        for i in prange(n, schedule="static", num_threads=nt):
            ov[i] = _hadamard_row(&av[i, 0], &bv[i, 0], &vv[0], m)
    return out


def d2k_matvec(K, X, Y, v, n_threads=None):
    """``(D2 * K) v`` with ``K`` stored and ``D2 = D2(X, Y)`` recomputed in tiles.

    The path for a memory budget that holds the kernel but not a second
    ``n x m`` matrix of distances.

    Parameters
    ----------
    K : ndarray of float64, shape (n, m), C-contiguous
        Stored kernel block ``K(X, Y)`` (any matrix of that shape is accepted).
    X : array-like (n, p) or Points
        Rows ``x_i``.
    Y : array-like (m, p) or Points
        Rows ``y_j``.
    v : array-like of shape (m,)
        Vector to multiply.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``sum_j ||x_i - y_j||^2 K_ij v_j``.
    """
    cdef Points A, B
    A, B = _pair(X, Y)
    if not (isinstance(K, np.ndarray) and K.dtype == np.float64 and K.ndim == 2
            and K.flags.c_contiguous):
        raise TypeError("K must be a C-contiguous float64 2-D array")
    if K.shape != (A.n, B.n):
        raise ValueError(f"K has shape {K.shape}, expected ({A.n}, {B.n})")
    cdef const double[::1] vv = _vector(v, B.n, "v")
    out = np.zeros(A.n)
    if A.n == 0 or B.n == 0:
        return out
    cdef const double[:, ::1] kv = K
    cdef double[::1] ov = out
    cdef int nt = _resolve_threads(n_threads, A.n * B.n * A.p)
    cdef double[::1] buf = np.empty(nt * _RBF_COLS)
    with nogil:
        if A.is32:
            _d2k_gemv(A.x32, A.n, B.t32, B.n, A.p, &kv[0, 0], &vv[0], &buf[0], nt,
                      &ov[0])
        else:
            _d2k_gemv(A.x64, A.n, B.t64, B.n, A.p, &kv[0, 0], &vv[0], &buf[0], nt,
                      &ov[0])
    return out


cdef class KernelRidgeOperator(LinearOperator):
    """The kernel ridge matrix ``v -> (K + mu I) v``, stored or matrix-free.

    ``K_ij = exp(-gamma ||x_i - x_j||^2)``. With a stored kernel the product
    reads ``K`` (one pass over ``n^2`` doubles); matrix-free, every product
    recomputes the kernel in tiles (``n^2 p`` operations, no ``n x n`` memory).
    The conjugate-gradient solver calls ``matvec`` without the GIL.

    Parameters
    ----------
    X : array-like (n, p) or Points
        Training rows.
    gamma : float
        Kernel width parameter (positive).
    mu : float
        Ridge (positive).
    K : ndarray of float64, shape (n, n), C-contiguous, or None
        The stored kernel ``K(X, X)`` at ``gamma``, kept by reference (the caller
        refreshes it and calls :meth:`set_params` when ``gamma`` changes); None
        for the matrix-free path.
    n_threads : int or None
        OpenMP threads; None uses all of them on large inputs.
    sqrt_weight : array-like of float64, shape (n,), or None
        Square roots ``s`` of non-negative sample weights: the operator becomes
        ``v -> (S K S + mu I) v`` with ``S = diag(s)``, the matrix of weighted
        kernel ridge in the scaled dual variable ``S^{-1} c``. Copied.

    Attributes
    ----------
    n : int
        Size of the system.
    gamma, mu : float
        Current parameters.
    stored : bool
        Whether a stored kernel is used.
    weighted : bool
        Whether ``sqrt_weight`` was given.
    """
    cdef readonly Points points
    cdef readonly double gamma, mu
    cdef readonly bint stored, weighted
    cdef readonly int n_threads
    cdef const double[:, ::1] K
    cdef double[::1] buf
    cdef const double[::1] sw
    cdef double[::1] scaled

    def __init__(self, X, gamma, mu, K=None, n_threads=None, sqrt_weight=None):
        self.points = _as_points(X)
        self.n = self.points.n
        self.stored = K is not None
        if self.stored:
            if not (isinstance(K, np.ndarray) and K.dtype == np.float64
                    and K.flags.c_contiguous and K.shape == (self.n, self.n)):
                raise TypeError(f"K must be a C-contiguous float64 array of shape "
                                f"({self.n}, {self.n})")
            self.K = K
        work = self.n * self.n * (1 if self.stored else max(self.points.p, 1))
        self.n_threads = _resolve_threads(n_threads, work)
        self.buf = np.empty(self.n_threads * _RBF_COLS)
        self.weighted = sqrt_weight is not None
        if self.weighted:
            sw = np.array(sqrt_weight, dtype=np.float64)
            if sw.shape != (self.n,):
                raise ValueError(f"sqrt_weight must have shape ({self.n},), got "
                                 f"{sw.shape}")
            if not np.all(np.isfinite(sw) & (sw >= 0)):
                raise ValueError("sqrt_weight must be finite and non-negative")
            self.sw = sw
            self.scaled = np.empty(self.n)
        self.set_params(gamma, mu)

    def set_params(self, gamma, mu):
        """Set ``gamma`` and ``mu`` (a stored ``K`` must already match ``gamma``)."""
        self.gamma = _check_gamma(gamma)
        m = float(mu)
        if not (np.isfinite(m) and m > 0):
            raise ValueError(f"mu must be a positive finite float, got {mu!r}")
        self.mu = m

    cdef void matvec(self, const double* v, double* out) noexcept nogil:
        cdef Py_ssize_t i, n = self.n
        cdef const double* kv = v
        if n == 0:
            return
        if self.weighted:
            # S K S v: the kernel product reads S v from a buffer.
            for i in range(n):
                self.scaled[i] = self.sw[i] * v[i]
            kv = &self.scaled[0]
        if self.stored:
            _dense_gemv(&self.K[0, 0], n, n, kv, self.n_threads, out)
        elif self.points.is32:
            _rbf_gemv(self.points.x32, n, self.points.t32, n, self.points.p,
                      self.gamma, kv, &self.buf[0], self.n_threads, out, NULL)
        else:
            _rbf_gemv(self.points.x64, n, self.points.t64, n, self.points.p,
                      self.gamma, kv, &self.buf[0], self.n_threads, out, NULL)
        if self.weighted:
            for i in range(n):
                out[i] = self.sw[i] * out[i] + self.mu * v[i]
        else:
            for i in range(n):
                out[i] += self.mu * v[i]


cdef class LowRankPreconditioner(LinearOperator):
    """``v -> P^{-1} v`` for ``P = U diag(d) U^T + mu I``, ``U`` orthonormal.

    With a Nystrom approximation ``K ~ U diag(d) U^T`` of rank ``r``, ``P`` is
    an approximation of ``K + mu I`` that is exact on the span of ``U``::

        P^{-1} v = v / mu + U ((1 / (d + mu) - 1 / mu) * (U^T v))

    (two passes over ``U``, ``4 n r`` operations). Its ``matvec`` is what the
    conjugate-gradient solver applies as a preconditioner.

    Parameters
    ----------
    U : ndarray of float64, shape (n, r)
        Orthonormal columns (copied, stored transposed).
    d : array-like of float64, shape (r,)
        Non-negative eigenvalues of the approximation.
    mu : float
        Positive ridge; change it with :meth:`set_mu` (``U`` and ``d`` do not
        depend on it).
    """
    cdef readonly Py_ssize_t rank
    cdef readonly double mu
    cdef const double[:, ::1] Ut
    cdef const double[::1] d
    cdef double[::1] t
    cdef object _keep

    def __init__(self, U, d, mu):
        U = np.asarray(U, dtype=np.float64)
        if U.ndim != 2:
            raise ValueError(f"U must be 2-D, got {U.ndim} dimension(s)")
        dd = np.ascontiguousarray(d, dtype=np.float64)
        if dd.shape != (U.shape[1],):
            raise ValueError(f"d must have shape ({U.shape[1]},), got {dd.shape}")
        if not np.all(np.isfinite(dd) & (dd >= 0)):
            raise ValueError("d must be finite and non-negative")
        Ut = np.ascontiguousarray(U.T)
        self.n, self.rank = U.shape[0], U.shape[1]
        self._keep = (Ut, dd)
        self.Ut = Ut
        self.d = dd
        self.t = np.zeros(max(self.rank, 1))
        self.set_mu(mu)

    def set_mu(self, mu):
        """Set the ridge ``mu`` (positive)."""
        m = float(mu)
        if not (np.isfinite(m) and m > 0):
            raise ValueError(f"mu must be a positive finite float, got {mu!r}")
        self.mu = m

    cdef void matvec(self, const double* v, double* out) noexcept nogil:
        cdef Py_ssize_t i, k, n = self.n
        cdef double inv_mu = 1.0 / self.mu
        cdef double tk
        cdef const double* uk
        for k in range(self.rank):
            self.t[k] = (_dot4(&self.Ut[k, 0], v, n)
                         * (1.0 / (self.d[k] + self.mu) - inv_mu))
        for i in range(n):
            out[i] = v[i] * inv_mu
        for k in range(self.rank):
            tk = self.t[k]
            uk = &self.Ut[k, 0]
            for i in range(n):
                out[i] += tk * uk[i]
