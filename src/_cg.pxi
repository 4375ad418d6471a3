# Conjugate gradient for symmetric positive-definite systems M q = b, where M is a
# LinearOperator (a Hessian at a fixed point, or K + mu I), with warm start and an
# optional preconditioner: a diagonal (Jacobi) or any LinearOperator applying an
# SPD approximation of M^{-1} (the low-rank Nystrom one of kernel ridge).


cdef inline void _precondition(LinearOperator prec, const double* minv,
                               double* r, double* z, Py_ssize_t n) noexcept nogil:
    """z = P r: the operator's product, the diagonal minv * r, or a copy of r."""
    cdef Py_ssize_t j
    if prec is not None:
        prec.matvec(r, z)
    elif minv != NULL:
        for j in range(n):
            z[j] = minv[j] * r[j]
    else:
        memcpy(z, r, n * sizeof(double))


cdef int _cg_core(LinearOperator op, const double* b, double* x, double* r,
                  double* z, double* p, double* Mp, const double* minv,
                  LinearOperator prec, double tol, int max_iter, int* n_iter_out,
                  double* res_out) noexcept nogil:
    """Solve op x = b from the given x until ||b - op x||_2 <= tol."""
    cdef Py_ssize_t n = op.n
    cdef Py_ssize_t j
    cdef int it = 0, status = ST_MAX_ITER
    cdef double rz, rz_new, pMp, step, beta, rnorm
    # True while r holds b - M x computed from x, not the recursive update
    cdef bint fresh = True
    # The last confirmed true residual: a restart that does not halve it means
    # the tolerance lies below what rounding lets b - M x reach, and restarting
    # again would only spend the iteration cap.
    cdef double last_true = INFINITY

    op.matvec(x, Mp)
    for j in range(n):
        r[j] = b[j] - Mp[j]
    rnorm = sqrt(_dot(r, r, n))
    _precondition(prec, minv, r, z, n)
    memcpy(p, z, n * sizeof(double))
    rz = _dot(r, z, n)

    while True:
        if not isfinite(rnorm):
            status = ST_NOT_FINITE
            break
        if rnorm <= tol and fresh:
            status = ST_CONVERGED
            break
        if rnorm <= tol:
            # The recursive residual drifts from b - M x by rounding; confirm with
            # one product, and restart from the true residual if it falls short,
            # so that a converged solve always meets tol.
            op.matvec(x, Mp)
            for j in range(n):
                r[j] = b[j] - Mp[j]
            rnorm = sqrt(_dot(r, r, n))
            fresh = True
            if rnorm <= tol or not isfinite(rnorm):
                continue
            if rnorm > 0.5 * last_true:
                status = ST_STALLED
                break
            last_true = rnorm
            _precondition(prec, minv, r, z, n)
            memcpy(p, z, n * sizeof(double))
            rz = _dot(r, z, n)
        if it >= max_iter:
            break
        op.matvec(p, Mp)
        pMp = _dot(p, Mp, n)
        if not (pMp > 0):
            status = ST_NOT_DESCENT if isfinite(pMp) else ST_NOT_FINITE
            break
        step = rz / pMp
        for j in range(n):
            x[j] += step * p[j]
            r[j] -= step * Mp[j]
        rnorm = sqrt(_dot(r, r, n))
        _precondition(prec, minv, r, z, n)
        rz_new = _dot(r, z, n)
        beta = rz_new / rz
        rz = rz_new
        for j in range(n):
            p[j] = z[j] + beta * p[j]
        it += 1
        fresh = False

    n_iter_out[0] = it
    res_out[0] = rnorm
    return status


def cg(LinearOperator op, b, x, double tol, int max_iter=1000, preconditioner=None):
    """Solve ``M x = b`` by conjugate gradient, in place, from the given ``x``.

    Stops once ``||b - M x||_2 <= tol`` (absolute). With a preconditioner ``P``
    (an SPD approximation of ``M^{-1}``), iterates on ``P M x = P b``; the
    stopping test stays on the unpreconditioned residual.

    Parameters
    ----------
    op : LinearOperator
        Symmetric positive-definite ``M``; its ``matvec`` runs without the GIL.
    b : array-like of float64, shape (op.n,)
        Right-hand side.
    x : ndarray of float64, shape (op.n,)
        Starting point (warm start), overwritten with the solution.
    tol : float
        Absolute tolerance on the residual norm.
    max_iter : int
        Maximum number of iterations.
    preconditioner : array-like of float64, shape (op.n,), LinearOperator, or None
        ``P``: the diagonal of a diagonal one (for Jacobi, ``1 / diag(M)``), or
        an operator whose ``matvec`` applies ``P`` without the GIL.

    Returns
    -------
    n_iter : int
        Iterations taken.
    residual : float
        ``||b - M x||_2`` at the end: computed afresh on convergence, the
        recursively updated residual otherwise.
    status : int
        0 converged, 1 iteration cap, 3 non-finite, 4 not positive definite.
    """
    cdef Py_ssize_t n = op.n
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 1
            and x.flags.c_contiguous and x.flags.writeable):
        raise TypeError("x must be a writeable C-contiguous float64 1-D array")
    if x.shape[0] != n:
        raise ValueError(f"x has length {x.shape[0]}, expected {n}")
    cdef const double[::1] bv = np.ascontiguousarray(b, dtype=np.float64)
    if bv.shape[0] != n:
        raise ValueError(f"b has length {bv.shape[0]}, expected {n}")
    cdef const double[::1] mv
    cdef const double* minv = NULL
    cdef LinearOperator prec = None
    if isinstance(preconditioner, LinearOperator):
        prec = preconditioner
        if prec.n != n:
            raise ValueError(f"preconditioner has size {prec.n}, expected {n}")
    elif preconditioner is not None:
        mv = np.ascontiguousarray(preconditioner, dtype=np.float64)
        if mv.shape[0] != n:
            raise ValueError(f"preconditioner has length {mv.shape[0]}, "
                             f"expected {n}")
        if n > 0:
            minv = &mv[0]
    if max_iter < 0:
        raise ValueError("max_iter must be non-negative")
    cdef double[::1] xv = x
    cdef double[:, ::1] work = np.empty((4, max(n, 1)))
    cdef int n_iter = 0, status = ST_CONVERGED
    cdef double res = 0.0
    if n == 0:
        return 0, 0.0, ST_CONVERGED
    with nogil:
        status = _cg_core(op, &bv[0], &xv[0], &work[0, 0], &work[1, 0],
                          &work[2, 0], &work[3, 0], minv, prec, tol, max_iter,
                          &n_iter, &res)
    return n_iter, res, status
