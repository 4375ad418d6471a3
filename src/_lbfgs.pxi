# L-BFGS for the inner problems: two-loop recursion, strong Wolfe line search
# (bracketing, then cubic interpolation) with an approximate-Wolfe escape, and a
# memory that survives between calls.
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


def _memory_from_pairs(n, m, S, Y, rho, n_pairs, head):
    """Unpickling of :class:`LBFGSMemory`: a memory holding the given pairs."""
    cdef LBFGSMemory memory = LBFGSMemory(n, m)
    np.asarray(memory.S)[...] = S
    np.asarray(memory.Y)[...] = Y
    np.asarray(memory.rho)[...] = rho
    memory.n_pairs = n_pairs
    memory.head = head
    return memory


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

    def __reduce__(self):
        # The pairs pickle with the memory, so that a fold solved in another
        # process (joblib's loky or Dask workers) hands its curvature back.
        return (_memory_from_pairs, (self.n, self.m, np.array(self.S),
                                     np.array(self.Y), np.array(self.rho),
                                     self.n_pairs, self.head))

    def shift_penalty(self, delta_alpha):
        """Update the pairs for a penalty change: ``y_k += delta_alpha * s_k``.

        Pairs whose curvature would no longer be safely positive,
        ``s_k . y_k <= eps ||s_k|| ||y_k||`` with eps the float64 machine
        epsilon, are dropped (this happens only if the objective was not convex
        to begin with). The update is in place: no array is reallocated.
        """
        cdef const double[::1] da = np.ascontiguousarray(np.broadcast_to(
            np.asarray(delta_alpha, dtype=np.float64), (self.n,)))
        cdef int k, idx, dest, oldest, kept = 0
        cdef Py_ssize_t j
        cdef double sy, ss, yy
        if self.n_pairs == 0:
            return
        # Walk oldest to newest and compact the kept pairs behind the read
        # position, starting at the oldest slot: a write never overtakes a read,
        # so ring order is preserved (+ m: the C remainder of a negative number
        # is negative under cdivision).
        oldest = (self.head - self.n_pairs + self.m) % self.m
        for k in range(self.n_pairs):
            idx = (oldest + k) % self.m
            for j in range(self.n):
                self.Y[idx, j] += da[j] * self.S[idx, j]
            sy = _dot(&self.S[idx, 0], &self.Y[idx, 0], self.n)
            ss = _dot(&self.S[idx, 0], &self.S[idx, 0], self.n)
            yy = _dot(&self.Y[idx, 0], &self.Y[idx, 0], self.n)
            if sy > DBL_EPSILON * sqrt(ss) * sqrt(yy):
                dest = (oldest + kept) % self.m
                if dest != idx:
                    memcpy(&self.S[dest, 0], &self.S[idx, 0], self.n * sizeof(double))
                    memcpy(&self.Y[dest, 0], &self.Y[idx, 0], self.n * sizeof(double))
                self.rho[dest] = 1.0 / sy
                kept += 1
        self.n_pairs = kept
        self.head = (oldest + kept) % self.m

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


# Line-search constants: sufficient decrease (Armijo) and the strong curvature
# condition, at the usual values for quasi-Newton methods (Nocedal and Wright,
# ch. 3). A step meeting both is a strong Wolfe step.
cdef double _C1 = 1e-4
cdef double _C2 = 0.9


cdef inline void _trial_point(const double* x, const double* d, double t,
                              double* x_new, Py_ssize_t n) noexcept nogil:
    """x_new = x + t d."""
    cdef Py_ssize_t j
    for j in range(n):
        x_new[j] = x[j] + t * d[j]


cdef inline double _trial(Objective obj, const double* x, const double* d, double t,
                          double* x_new, double* g_new, Py_ssize_t n) noexcept nogil:
    """phi(t) = f(x + t d); the point goes to x_new, its gradient to g_new."""
    _trial_point(x, d, t, x_new, n)
    return obj.loss_grad(x_new, g_new)


cdef inline double _cubic_step(double ta, double fa, double da, double tb, double fb,
                               double db, double t_min, double t_max) noexcept nogil:
    """Minimiser of the cubic with values fa, fb and slopes da, db at ta, tb.

    The cubic is the Hermite interpolant of phi on the two points; its local
    minimiser is

        t* = tb - (tb - ta) (db + w - theta) / (db - da + 2 w),
        theta = da + db - 3 (fa - fb) / (ta - tb),
        w = sign(tb - ta) sqrt(theta^2 - da db).

    The result is clipped to [t_min, t_max]; without a local minimiser (negative
    root argument, or rounding) the midpoint of that interval is used instead.
    """
    cdef double theta, disc, w, t
    theta = da + db - 3.0 * (fa - fb) / (ta - tb)
    disc = theta * theta - da * db
    t = 0.5 * (t_min + t_max)
    if disc >= 0 and isfinite(disc):
        w = sqrt(disc)
        if tb < ta:
            w = -w
        t = tb - (tb - ta) * (db + w - theta) / (db - da + 2.0 * w)
        if not isfinite(t):
            t = 0.5 * (t_min + t_max)
    return min(max(t, t_min), t_max)


cdef bint _wolfe_search(Objective obj, const double* x, const double* d, double f,
                        double dphi0, double t, int max_ls, double* x_new,
                        double* g_new, double* g_lo, double* f_new,
                        int* n_fev) noexcept nogil:
    """Find t with a strong Wolfe step x_new = x + t d; return whether one was taken.

    With phi(t) = f(x + t d) and dphi0 = phi'(0) < 0, a step is taken when

        phi(t) <= phi(0) + c1 t dphi0  and  phi(t) < phi(0)    (sufficient decrease)
        |phi'(t)| <= c2 |dphi0|                                 (strong curvature)

    First t grows until it brackets such a step, then the bracket [lo, hi]
    shrinks by safeguarded cubic interpolation. ``lo`` is always the lowest
    point with sufficient decrease found so far (0 at the start) and phi'(lo)
    points into the bracket. Two escapes keep the solver going where these
    tests cannot be met: near the optimum the changes of f drown in its
    rounding, and a point with f within 1e-12 |f| of the lowest one and a slope
    in [c2 dphi0, (2 c1 - 1) dphi0] (approximate Wolfe, Hager and Zhang 2005) is
    taken, while such a point whose slope is still below c2 dphi0 counts as a
    lower point (Hager and Zhang's update: the step is too short, not too
    long); when max_ls evaluations are spent, the best lower point is taken if
    there is one. Otherwise the search failed. On success
    x_new, g_new and f_new hold the new point; g_lo is workspace.
    """
    cdef Py_ssize_t n = obj.n
    cdef int ls
    cdef double f_t, dphi_t
    cdef double t_lo = 0.0, f_lo = f, dphi_lo = dphi0
    cdef double t_prev = 0.0, f_prev = f, dphi_prev = dphi0
    cdef double t_hi = 0.0, f_hi = 0.0, dphi_hi = 0.0, width
    cdef bint bracketed = False, hi_finite = False

    for ls in range(max_ls):
        f_t = _trial(obj, x, d, t, x_new, g_new, n)
        n_fev[0] += 1
        dphi_t = _dot(g_new, d, n) if isfinite(f_t) else f_t

        if not (isfinite(f_t) and isfinite(dphi_t)):
            # no information beyond "too far": the bracket closes here
            bracketed = True
            hi_finite = False
            t_hi = t
        elif ((f_t > f + _C1 * t * dphi0 or f_t >= f_lo) and not (
                f_t <= f_lo + 1e-12 * fabs(f) and dphi_t < _C2 * dphi0)):
            if (f_t <= f_lo + 1e-12 * fabs(f) and
                    _C2 * dphi0 <= dphi_t <= (2 * _C1 - 1) * dphi0):
                f_new[0] = f_t
                return True
            bracketed = True
            hi_finite = True
            t_hi, f_hi, dphi_hi = t, f_t, dphi_t
        else:
            # sufficient decrease, or f flat within rounding while phi still
            # falls steeply (the decrease test failed on rounding alone: the
            # step is too short, so it becomes lo and the search goes on)
            if fabs(dphi_t) <= -_C2 * dphi0:
                f_new[0] = f_t
                return True
            # a new lowest point; if phi rises beyond it towards hi (or towards
            # larger t before any bracket), the old lo becomes the far end
            if (dphi_t * (t_hi - t) >= 0) if bracketed else (dphi_t >= 0):
                bracketed = True
                hi_finite = True
                t_hi, f_hi, dphi_hi = t_lo, f_lo, dphi_lo
            t_prev, f_prev, dphi_prev = t_lo, f_lo, dphi_lo
            t_lo, f_lo, dphi_lo = t, f_t, dphi_t
            memcpy(g_lo, g_new, n * sizeof(double))

        # next trial: inside the bracket, or further out along d
        if bracketed:
            width = t_hi - t_lo
            if fabs(width) <= DBL_EPSILON * max(fabs(t_lo), fabs(t_hi)):
                break
            if hi_finite:
                # keep 10 % of the bracket on each side, so that it shrinks
                t = _cubic_step(t_lo, f_lo, dphi_lo, t_hi, f_hi, dphi_hi,
                                t_lo + 0.1 * width if width > 0 else t_hi - 0.1 * width,
                                t_hi - 0.1 * width if width > 0 else t_lo + 0.1 * width)
            else:
                t = t_lo + 0.1 * width
        else:
            width = t_lo - t_prev
            t = _cubic_step(t_prev, f_prev, dphi_prev, t_lo, f_lo, dphi_lo,
                            t_lo + 1.1 * width, t_lo + 4.0 * width)

    if t_lo > 0:
        # out of evaluations: the lowest point with sufficient decrease
        _trial_point(x, d, t_lo, x_new, n)
        memcpy(g_new, g_lo, n * sizeof(double))
        f_new[0] = f_lo
        return True
    return False


cdef int _lbfgs_core(Objective obj, LBFGSMemory mem, double* x, double* g,
                     double* d, double* x_new, double* g_new, double* g_lo,
                     double tol, int max_iter, int max_ls, double* f_out,
                     double* gnorm_out, int* n_iter_out, int* n_fev_out) noexcept nogil:
    """Minimise obj from x (in place) until ||grad|| <= tol. Returns a status."""
    cdef Py_ssize_t n = obj.n
    cdef Py_ssize_t j
    cdef int it = 0, n_fev = 0, status = ST_MAX_ITER
    cdef double f, f_new = 0.0, gnorm, dphi0, t, sy, ss, yy
    # Steps that lower neither the lowest f nor the lowest gradient norm seen:
    # after this many in a row the iterates only wander in rounding noise (f
    # going up and down by a few ulps), a line-search failure, not progress.
    cdef int max_stall = 50
    cdef int n_stall = 0
    cdef double best_f, best_gnorm
    cdef bint accepted

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

        # 2. Wolfe line search; if the quasi-Newton direction fails, once more
        # along -g before reporting the failure
        accepted = _wolfe_search(obj, x, d, f, dphi0, t, max_ls, x_new, g_new,
                                 g_lo, &f_new, &n_fev)
        if not accepted and mem.n_pairs > 0:
            mem.n_pairs = 0
            mem.head = 0
            mem.direction(g, d)
            dphi0 = _dot(g, d, n)
            accepted = _wolfe_search(obj, x, d, f, dphi0, min(1.0, 1.0 / gnorm),
                                     max_ls, x_new, g_new, g_lo, &f_new, &n_fev)
        if not accepted:
            status = ST_LINE_SEARCH
            break

        # 3. update the memory with the new pair, skipped when its curvature
        # s.y is not safely positive (rounding, or an escape step of the search)
        for j in range(n):
            d[j] = x_new[j] - x[j]
            g[j] = g_new[j] - g[j]
        sy = _dot(d, g, n)
        ss = _dot(d, d, n)
        yy = _dot(g, g, n)
        if sy > DBL_EPSILON * sqrt(ss) * sqrt(yy):
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
    cdef double[:, ::1] work = np.empty((5, max(n, 1)))
    cdef double f = 0.0, gnorm = 0.0
    cdef int n_iter = 0, n_fev = 0, status = ST_CONVERGED
    if n == 0:
        return 0.0, 0.0, 0, 0, ST_CONVERGED
    with nogil:
        status = _lbfgs_core(obj, memory, &xv[0], &work[0, 0], &work[1, 0],
                             &work[2, 0], &work[3, 0], &work[4, 0], tol,
                             max_iter, max_ls, &f, &gnorm, &n_iter, &n_fev)
    return f, gnorm, n_iter, n_fev, status
