# Shared pieces of the compiled core: thread count, the dense/CSR row abstraction,
# and the two operator interfaces that the solvers call without the GIL.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int hoag_omp_max_threads(void) { return omp_get_max_threads(); }
    static int hoag_has_openmp(void) { return 1; }
    #else
    static int hoag_omp_max_threads(void) { return 1; }
    static int hoag_has_openmp(void) { return 0; }
    #endif
    """
    int hoag_omp_max_threads() noexcept nogil
    int hoag_has_openmp() noexcept nogil


# Below this many stored values per call a parallel region costs more than it saves
# (measured on 2 cores: breast cancer, 17k values, was 3x slower with 2 threads).
cdef Py_ssize_t _PARALLEL_MIN_WORK = 100000

# Status codes shared by the solvers; names in STATUS_MESSAGES.
cdef enum:
    ST_CONVERGED = 0
    ST_MAX_ITER = 1
    ST_LINE_SEARCH = 2
    ST_NOT_FINITE = 3
    ST_NOT_DESCENT = 4
    ST_STALLED = 5

STATUS_MESSAGES = {
    ST_CONVERGED: "converged",
    ST_MAX_ITER: "maximum number of iterations reached",
    ST_LINE_SEARCH: "line search could not find a sufficient decrease",
    ST_NOT_FINITE: "non-finite value or gradient",
    ST_NOT_DESCENT: "operator is not positive definite along the search direction",
    ST_STALLED: "residual stalled above the tolerance (floating-point floor)",
}


def openmp_enabled():
    """Return True when the compiled core was built with OpenMP."""
    return bool(hoag_has_openmp())


def max_threads():
    """Number of threads OpenMP would use by default (1 without OpenMP)."""
    return hoag_omp_max_threads()


cdef int _resolve_threads(object n_threads, Py_ssize_t work):
    """Threads for a kernel: the user's count, or all OpenMP threads on big data."""
    cdef int nt
    if n_threads is None:
        nt = hoag_omp_max_threads() if work >= _PARALLEL_MIN_WORK else 1
    else:
        nt = int(n_threads)
        if nt < 1:
            nt = max(1, hoag_omp_max_threads() + 1 + nt)
    if not hoag_has_openmp():
        nt = 1
    return nt


cdef class Rows:
    """Rows of a dense C-contiguous array or of a CSR matrix, float32 or float64.

    Parameters
    ----------
    X : ndarray of shape (n, p) or scipy.sparse CSR matrix/array
        Dense input must be C-contiguous float32 or float64; CSR input must have
        float32 or float64 data and int32/int64 indices (int64 indices are narrowed
        to int32 once). A CSR matrix not in canonical format (unsorted or duplicate
        indices) is merged into a copy. Read-only buffers are accepted; nothing is
        written to ``X``.
    """
    cdef readonly Py_ssize_t n, p, nnz
    cdef readonly bint csr, is32
    cdef const double* v64
    cdef const float* v32
    cdef const int* ind
    cdef const int* indptr
    cdef object _keep

    def __init__(self, X):
        cdef const double[::1] d64
        cdef const float[::1] d32
        cdef const double[:, ::1] m64
        cdef const float[:, ::1] m32
        cdef const int[::1] ind_view
        cdef const int[::1] ptr_view

        if sp.issparse(X):
            if X.format != "csr":
                raise ValueError(f"sparse input must be CSR, got {X.format!r}")
            data = X.data
            if data.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"CSR data must be float32 or float64, got {data.dtype}")

            # The kernels index without bounds checks: a malformed matrix (which
            # scipy accepts unless asked to check) must fail here, not segfault.
            indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
            if (indptr.ndim != 1 or indptr.shape[0] != X.shape[0] + 1
                    or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
                    or indptr[-1] > min(indices.shape[0], data.shape[0])):
                raise ValueError("CSR indptr is inconsistent with the shape or "
                                 "with the number of stored values")
            if indptr[-1] >= 2**31 - 1:
                raise ValueError("CSR input with 2**31 or more stored values is "
                                 "not supported")
            if indptr[-1] > 0:
                used = indices[:indptr[-1]]
                if used.min() < 0 or used.max() >= X.shape[1]:
                    raise ValueError(f"CSR column indices must lie in "
                                     f"[0, {X.shape[1]})")

            if not X.has_canonical_format:
                # Duplicates mean a sum; the Hessian diagonal needs the square of
                # that sum, not the sum of squares, so merge them in a copy.
                X = X.copy()
                X.sum_duplicates()
            indices = np.ascontiguousarray(X.indices, dtype=np.intc)
            indptr = np.ascontiguousarray(X.indptr, dtype=np.intc)
            data = np.ascontiguousarray(X.data)
            self.csr = True
            self.n, self.p = X.shape
            self.nnz = data.shape[0]
            self.is32 = data.dtype == np.float32
            self._keep = (data, indices, indptr)
            ind_view = indices
            ptr_view = indptr
            self.ind = &ind_view[0] if indices.shape[0] > 0 else NULL
            self.indptr = &ptr_view[0]
            if self.is32:
                d32 = data
                self.v32 = &d32[0] if self.nnz > 0 else NULL
            else:
                d64 = data
                self.v64 = &d64[0] if self.nnz > 0 else NULL
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D, got {X.ndim} dimension(s)")
            if X.dtype not in (np.float32, np.float64):
                raise TypeError(f"X must be float32 or float64, got {X.dtype}")
            if not X.flags.c_contiguous:
                raise ValueError("dense X must be C-contiguous")
            self.csr = False
            self.n, self.p = X.shape[0], X.shape[1]
            self.nnz = self.n * self.p
            self.is32 = X.dtype == np.float32
            self._keep = X
            self.ind = NULL
            self.indptr = NULL
            if self.nnz > 0:
                if self.is32:
                    m32 = X
                    self.v32 = &m32[0, 0]
                else:
                    m64 = X
                    self.v64 = &m64[0, 0]


cdef inline double _row_dot(const floating* vals, const int* ind, const int* indptr,
                            bint csr, Py_ssize_t i, Py_ssize_t p,
                            const double* w) noexcept nogil:
    """a_i . w for row i."""
    cdef Py_ssize_t j, k
    cdef double acc = 0.0
    cdef const floating* row
    if csr:
        for k in range(indptr[i], indptr[i + 1]):
            acc += vals[k] * w[ind[k]]
    else:
        row = vals + i * p
        for j in range(p):
            acc += row[j] * w[j]
    return acc


cdef inline void _row_axpy(double a, const floating* vals, const int* ind,
                           const int* indptr, bint csr, Py_ssize_t i, Py_ssize_t p,
                           double* out) noexcept nogil:
    """out += a * a_i for row i."""
    cdef Py_ssize_t j, k
    cdef const floating* row
    if a == 0.0:
        return
    if csr:
        for k in range(indptr[i], indptr[i + 1]):
            out[ind[k]] += a * vals[k]
    else:
        row = vals + i * p
        for j in range(p):
            out[j] += a * row[j]


cdef inline void _row_axpy_sq(double a, const floating* vals, const int* ind,
                              const int* indptr, bint csr, Py_ssize_t i,
                              Py_ssize_t p, double* out) noexcept nogil:
    """out += a * a_i**2 (elementwise) for row i; builds Hessian diagonals."""
    cdef Py_ssize_t j, k
    cdef const floating* row
    if a == 0.0:
        return
    if csr:
        for k in range(indptr[i], indptr[i + 1]):
            out[ind[k]] += a * vals[k] * vals[k]
    else:
        row = vals + i * p
        for j in range(p):
            out[j] += a * row[j] * row[j]


cdef int _n_chunks(int nt) noexcept:
    """Row chunks of the accumulating kernels for ``nt`` threads.

    Rows are split into this many contiguous chunks, each summed into its own
    buffer, and the buffers are added in chunk order. The count does not depend
    on ``nt`` below the machine's OpenMP thread count, so 1 and 2 threads give
    the same bits (design note E); memory is then the one of all threads.
    """
    return max(nt, hoag_omp_max_threads())


cdef double _sum_in_order(const double* values, Py_ssize_t m) noexcept nogil:
    """values[0] + values[1] + ... in that order."""
    cdef Py_ssize_t k
    cdef double total = 0.0
    for k in range(m):
        total += values[k]
    return total


cdef void _reduce_buffers(double* buf, Py_ssize_t nt, Py_ssize_t m,
                          double* out) noexcept nogil:
    """out = sum over chunks t of buf[t * m:(t + 1) * m], in chunk order."""
    cdef Py_ssize_t t, j
    memcpy(out, buf, m * sizeof(double))
    for t in range(1, nt):
        for j in range(m):
            out[j] += buf[t * m + j]


cdef class LinearOperator:
    """A symmetric positive-definite operator ``v -> M v`` on float64 vectors.

    Subclasses implement the ``cdef`` method ``matvec``; the conjugate-gradient
    solver calls it without the GIL. ``n`` is the vector length.
    """
    cdef readonly Py_ssize_t n

    cdef void matvec(self, const double* v, double* out) noexcept nogil:
        memcpy(out, v, self.n * sizeof(double))

    def apply(self, v, out=None):
        """Return ``M v`` as a new float64 array (or in ``out``)."""
        cdef const double[::1] vv = np.ascontiguousarray(v, dtype=np.float64)
        if vv.shape[0] != self.n:
            raise ValueError(f"v has length {vv.shape[0]}, expected {self.n}")
        if out is None:
            out = np.empty(self.n, dtype=np.float64)
        cdef double[::1] ov = out
        if ov.shape[0] != self.n:
            raise ValueError(f"out has length {ov.shape[0]}, expected {self.n}")
        if self.n > 0:
            with nogil:
                self.matvec(&vv[0], &ov[0])
        return out


cdef class Objective(LinearOperator):
    """A smooth, strongly convex function of a float64 vector of length ``n``.

    ``loss_grad`` returns f(x) and writes grad f(x); after ``set_point(x)`` the
    inherited ``matvec`` is the Hessian-vector product at ``x``.
    """

    cdef double loss_grad(self, const double* x, double* g) noexcept nogil:
        return 0.0

    cdef void set_point(self, const double* x) noexcept nogil:
        pass

    def value_grad(self, x, grad=None):
        """Return ``(f(x), grad f(x))``; the gradient goes into ``grad`` if given."""
        cdef const double[::1] xv = np.ascontiguousarray(x, dtype=np.float64)
        if xv.shape[0] != self.n:
            raise ValueError(f"x has length {xv.shape[0]}, expected {self.n}")
        if grad is None:
            grad = np.empty(self.n, dtype=np.float64)
        cdef double[::1] gv = grad
        if gv.shape[0] != self.n:
            raise ValueError(f"grad has length {gv.shape[0]}, expected {self.n}")
        cdef double f = 0.0
        if self.n > 0:
            with nogil:
                f = self.loss_grad(&xv[0], &gv[0])
        return f, grad

    def set_hessian_point(self, x):
        """Fix the point at which ``apply`` (and CG) take Hessian-vector products."""
        cdef const double[::1] xv = np.ascontiguousarray(x, dtype=np.float64)
        if xv.shape[0] != self.n:
            raise ValueError(f"x has length {xv.shape[0]}, expected {self.n}")
        if self.n > 0:
            with nogil:
                self.set_point(&xv[0])


def _checked_read(const double[::1] a, Py_ssize_t i):
    """Return ``a[i]`` read through a typed memoryview, for the build tests.

    Built with ``-Dboundscheck=true`` an index out of range raises IndexError;
    in the default build the read is unchecked (never call it out of range
    there). The CI run of the bounds-checked build calls it to prove which
    build the kernel tests ran on.
    """
    return a[i]
