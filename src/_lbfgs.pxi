# L-BFGS for the inner problems: two-loop recursion, backtracking line search with
# an approximate-Wolfe escape, and a memory that survives between calls.
#
# The memory can be kept across outer iterations of HOAG. When only the l2
# penalty changes, from alpha to alpha', every stored pair stays exact after
# y_k <- y_k + (alpha' - alpha) * s_k, since the penalty gradient is linear in x;
# ``LBFGSMemory.shift_penalty`` does this, so a warm start keeps its curvature.

cdef extern from *:
    """
    #include <float.h>
    """
    double DBL_EPSILON


cdef inline double _dot(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef double acc = 0.0
    for j in range(n):
        acc += a[j] * b[j]
    return acc


cdef class LBFGSMemory:
    """Curvature pairs ``(s_k, y_k)`` of L-BFGS, kept between solves.

    Parameters
    ----------
    n : int
        Length of the vectors.
    m : int, default=10
        Number of pairs kept (oldest dropped first).
    """
    cdef readonly int m, n_pairs
    cdef readonly Py_ssize_t n
    cdef int head
    cdef double[:, ::1] S
    cdef double[:, ::1] Y
    cdef double[::1] rho
    cdef double[::1] coef

    def __init__(self, Py_ssize_t n, int m=10):
        if m < 1:
            raise ValueError(f"m must be at least 1, got {m}")
        self.n = n
        self.m = m
        self.S = np.zeros((m, max(n, 1)))
        self.Y = np.zeros((m, max(n, 1)))
        self.rho = np.zeros(m)
        self.coef = np.zeros(m)
        self.n_pairs = 0
        self.head = 0

    def reset(self):
        """Forget every pair."""
        self.n_pairs = 0
        self.head = 0

    def shift_penalty(self, delta_alpha):
        """Update the pairs for a penalty change: ``y_k += delta_alpha * s_k``.

        Pairs whose curvature ``s_k . y_k`` would no longer be positive are dropped
        (this happens only if the objective was not convex to begin with).
        """
        cdef double[::1] da = np.broadcast_to(
            np.asarray(delta_alpha, dtype=np.float64), (self.n,)).copy()
        cdef int k, idx, kept = 0
        cdef Py_ssize_t j
        cdef double sy
        S_new = np.zeros_like(np.asarray(self.S))
        Y_new = np.zeros_like(np.asarray(self.Y))
        rho_new = np.zeros(self.m)
        # walk oldest to newest so the ring order is preserved
        for k in range(self.n_pairs):
            # + m: with cdivision the C remainder of a negative number is negative
            idx = (self.head - self.n_pairs + k + self.m) % self.m
            for j in range(self.n):
                self.Y[idx, j] += da[j] * self.S[idx, j]
            sy = _dot(&self.S[idx, 0], &self.Y[idx, 0], self.n)
            if sy > 0:
                S_new[kept] = self.S[idx]
                Y_new[kept] = self.Y[idx]
                rho_new[kept] = 1.0 / sy
                kept += 1
        self.S = S_new
        self.Y = Y_new
        self.rho = rho_new
        self.n_pairs = kept
        self.head = kept % self.m

    cdef void push(self, const double* s, const double* y, double sy) noexcept nogil:
        memcpy(&self.S[self.head, 0], s, self.n * sizeof(double))
        memcpy(&self.Y[self.head, 0], y, self.n * sizeof(double))
        self.rho[self.head] = 1.0 / sy
        self.head = (self.head + 1) % self.m
        if self.n_pairs < self.m:
            self.n_pairs += 1

    cdef void direction(self, const double* g, double* d) noexcept nogil:
        """d = -H_k g by the two-loop recursion, H_0 = (s.y / y.y) I."""
        cdef int k, idx, newest
        cdef Py_ssize_t j
        cdef double a, bcoef, gamma
        cdef Py_ssize_t n = self.n
        for j in range(n):
            d[j] = -g[j]
        for k in range(self.n_pairs):
            idx = (self.head - 1 - k + self.m) % self.m
            a = self.rho[idx] * _dot(&self.S[idx, 0], d, n)
            self.coef[idx] = a
            for j in range(n):
                d[j] -= a * self.Y[idx, j]
        if self.n_pairs > 0:
            newest = (self.head - 1 + self.m) % self.m
            gamma = 1.0 / (self.rho[newest] *
                           _dot(&self.Y[newest, 0], &self.Y[newest, 0], n))
            for j in range(n):
                d[j] *= gamma
        for k in range(self.n_pairs - 1, -1, -1):
            idx = (self.head - 1 - k + self.m) % self.m
            bcoef = self.rho[idx] * _dot(&self.Y[idx, 0], d, n)
            for j in range(n):
                d[j] += (self.coef[idx] - bcoef) * self.S[idx, j]


cdef int _lbfgs_core(Objective obj, LBFGSMemory mem, double* x, double* g,
                     double* d, double* x_new, double* g_new, double tol,
                     int max_iter, int max_ls, double* f_out, double* gnorm_out,
                     int* n_iter_out, int* n_fev_out) noexcept nogil:
    """Minimise obj from x (in place) until ||grad|| <= tol. Returns a status."""
    cdef Py_ssize_t n = obj.n
    cdef Py_ssize_t j
    cdef int it = 0, n_fev = 0, ls, status = ST_MAX_ITER
    cdef double f, f_new, gnorm, dphi0, dphi, t, sy, yy, denom
    # Armijo constant and the curvature bound of the approximate-Wolfe escape;
    # the usual values (Nocedal and Wright, ch. 3; Hager and Zhang 2005).
    cdef double c1 = 1e-4, c2 = 0.9
    # Steps that lower neither the lowest f nor the lowest gradient norm seen:
    # after this many in a row the iterates only wander in rounding noise (f
    # going up and down by a few ulps), a line-search failure, not progress.
    cdef int max_stall = 50
    cdef int n_stall = 0
    cdef double best_f, best_gnorm
    cdef bint accepted, retried

    f = obj.loss_grad(x, g)
    n_fev += 1
    gnorm = sqrt(_dot(g, g, n))
    f_out[0] = f
    gnorm_out[0] = gnorm
    n_iter_out[0] = 0
    n_fev_out[0] = n_fev
    if not (isfinite(f) and isfinite(gnorm)):
        return ST_NOT_FINITE
    best_f = f
    best_gnorm = gnorm

    while it < max_iter:
        if gnorm <= tol:
            status = ST_CONVERGED
            break

        # 1. search direction; fall back to steepest descent if it is not downhill
        mem.direction(g, d)
        dphi0 = _dot(g, d, n)
        if not (dphi0 < 0 and isfinite(dphi0)):
            mem.n_pairs = 0
            mem.head = 0
            mem.direction(g, d)
            dphi0 = _dot(g, d, n)
        # with no curvature information, a first step of length 1 at most
        t = 1.0
        if mem.n_pairs == 0:
            t = min(1.0, 1.0 / gnorm)

        # 2. backtracking line search
        accepted = False
        retried = False
        ls = 0
        while ls < max_ls:
            ls += 1
            for j in range(n):
                x_new[j] = x[j] + t * d[j]
            f_new = obj.loss_grad(x_new, g_new)
            n_fev += 1
            if isfinite(f_new):
                # Armijo, with a strict decrease: once c1 t dphi0 is below the
                # rounding of f, a null step would pass and the solver would idle
                # up to max_iter instead of reporting the failure.
                if f_new <= f + c1 * t * dphi0 and f_new < f:
                    accepted = True
                    break
                # Near the optimum f changes by less than its rounding error, and
                # the Armijo test fails on noise; the slope still shows progress.
                dphi = _dot(g_new, d, n)
                if (f_new <= f + 1e-12 * fabs(f) and
                        c2 * dphi0 <= dphi <= (2 * c1 - 1) * dphi0):
                    accepted = True
                    break
                # quadratic interpolation, kept within [0.1 t, 0.5 t]
                denom = 2.0 * (f_new - f - dphi0 * t)
                if denom > 0:
                    t = min(max(-dphi0 * t * t / denom, 0.1 * t), 0.5 * t)
                else:
                    t = 0.5 * t
            else:
                t = 0.1 * t
            if ls == max_ls and not retried and mem.n_pairs > 0:
                # the quasi-Newton direction failed: once more along -g
                retried = True
                ls = 0
                mem.n_pairs = 0
                mem.head = 0
                mem.direction(g, d)
                dphi0 = _dot(g, d, n)
                t = min(1.0, 1.0 / gnorm)
        if not accepted:
            status = ST_LINE_SEARCH
            break

        # 3. update the memory with the new pair, if it has positive curvature
        for j in range(n):
            d[j] = x_new[j] - x[j]
            g[j] = g_new[j] - g[j]
        sy = _dot(d, g, n)
        yy = _dot(g, g, n)
        if sy > DBL_EPSILON * yy and sy > 0:
            mem.push(d, g, sy)
        memcpy(x, x_new, n * sizeof(double))
        memcpy(g, g_new, n * sizeof(double))
        gnorm = sqrt(_dot(g, g, n))
        it += 1
        if not (isfinite(f_new) and isfinite(gnorm)):
            f = f_new
            status = ST_NOT_FINITE
            break

        # 4. stall test: no new lowest f and no new lowest gradient norm
        if f_new < best_f or gnorm < best_gnorm:
            n_stall = 0
        else:
            n_stall += 1
        best_f = min(best_f, f_new)
        best_gnorm = min(best_gnorm, gnorm)
        f = f_new
        if n_stall >= max_stall and gnorm > tol:
            status = ST_LINE_SEARCH
            break
    else:
        if gnorm <= tol:
            status = ST_CONVERGED

    f_out[0] = f
    gnorm_out[0] = gnorm
    n_iter_out[0] = min(it, max_iter)
    n_fev_out[0] = n_fev
    return status


def lbfgs(Objective obj, x, double tol, int max_iter=1000, LBFGSMemory memory=None,
          int max_ls=30):
    """Minimise a compiled objective with L-BFGS, in place.

    Iterates ``x <- x + t d`` with ``d = -H_k grad f(x)`` from the two-loop
    recursion until ``||grad f(x)||_2 <= tol``.

    Parameters
    ----------
    obj : Objective
        The function; its ``loss_grad`` is called without the GIL.
    x : ndarray of float64, shape (obj.n,)
        Starting point, overwritten with the final point (the warm start).
    tol : float
        Absolute tolerance on the Euclidean norm of the gradient.
    max_iter : int
        Maximum number of iterations.
    memory : LBFGSMemory or None
        Curvature pairs to start from and to update; None starts with none.
    max_ls : int
        Maximum function evaluations per line search.

    Returns
    -------
    f : float
        Objective at the final ``x``.
    grad_norm : float
        ``||grad f(x)||_2`` at the final ``x``.
    n_iter : int
        Iterations taken.
    n_fev : int
        Function and gradient evaluations.
    status : int
        0 converged, 1 iteration cap, 2 line search failed, 3 non-finite value;
        ``STATUS_MESSAGES[status]`` describes it.
    """
    cdef Py_ssize_t n = obj.n
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 1
            and x.flags.c_contiguous and x.flags.writeable):
        raise TypeError("x must be a writeable C-contiguous float64 1-D array")
    if x.shape[0] != n:
        raise ValueError(f"x has length {x.shape[0]}, expected {n}")
    if memory is None:
        memory = LBFGSMemory(n)
    elif memory.n != n:
        raise ValueError(f"memory is for vectors of length {memory.n}, not {n}")
    if max_iter < 0:
        raise ValueError("max_iter must be non-negative")
    if max_ls < 1:
        raise ValueError("max_ls must be at least 1")
    cdef double[::1] xv = x
    cdef double[:, ::1] work = np.empty((4, max(n, 1)))
    cdef double f = 0.0, gnorm = 0.0
    cdef int n_iter = 0, n_fev = 0, status = ST_CONVERGED
    if n == 0:
        return 0.0, 0.0, 0, 0, ST_CONVERGED
    with nogil:
        status = _lbfgs_core(obj, memory, &xv[0], &work[0, 0], &work[1, 0],
                             &work[2, 0], &work[3, 0], tol, max_iter, max_ls,
                             &f, &gnorm, &n_iter, &n_fev)
    return f, gnorm, n_iter, n_fev, status
