"""Call every kernel of hoag._core on small inputs, for valgrind's memcheck.

Run by ``.ci/run`` as::

    PYTHONMALLOC=malloc valgrind --tool=memcheck --error-exitcode=1 \
        --errors-for-leak-kinds=none --suppressions=.ci/valgrind-python.supp \
        python .ci/valgrind_kernels.py

Every layout the kernels read (dense, CSR with int32 and int64 indices, a CSR
with unsorted duplicates, read-only buffers), both dtypes, one and two
threads, the edge shapes (one row, one feature, empty rows and columns, no
rows) and every solver go through the compiled code once. The results are
checked against NumPy so that a read of uninitialised memory that happened to
go unnoticed by memcheck still fails here. Small sizes keep the run short.
"""

import glob
import importlib.util
import os
import sys

import numpy as np
import scipy.sparse as sp


def load_core():
    """hoag._core alone: the package's __init__ would import scikit-learn,
    which takes a minute under valgrind and runs none of our code."""
    spec = importlib.util.find_spec("hoag")
    found = [path for folder in (spec.submodule_search_locations or [])
             for path in glob.glob(os.path.join(folder, "_core.*"))
             if path.endswith((".so", ".pyd"))]
    if not found:  # an editable install keeps the extension elsewhere
        from hoag import _core
        return _core
    core_spec = importlib.util.spec_from_file_location("hoag._core", found[0])
    core = importlib.util.module_from_spec(core_spec)
    core_spec.loader.exec_module(core)
    return core


_core = load_core()


def close(a, b, what, rtol=1e-9):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b)) if b.size else 0.0
    if not np.allclose(a, b, rtol=rtol, atol=rtol * scale):
        sys.exit(f"valgrind_kernels: {what} differs from the NumPy value")


def layouts(X64, dtype):
    """The same matrix as dense, CSR int32, CSR int64 and non-canonical CSR."""
    X = X64.astype(dtype)
    X.setflags(write=False)
    csr = sp.csr_matrix(X)
    csr64 = csr.copy()
    csr64.indices = csr64.indices.astype(np.int64)
    csr64.indptr = csr64.indptr.astype(np.int64)
    coo = sp.coo_matrix(X)
    # every stored value split in two halves: duplicates, in reverse order
    rows = np.concatenate([coo.row, coo.row])[::-1]
    cols = np.concatenate([coo.col, coo.col])[::-1]
    vals = np.concatenate([coo.data / 2, coo.data - coo.data / 2])[::-1]
    messy = sp.csr_matrix((vals, (rows, cols)), shape=X.shape)
    messy.has_canonical_format = False
    return {"dense": X, "csr32": csr, "csr64": csr64, "messy": messy}


def binary(X64, rng):
    n, p = X64.shape
    y = rng.choice([-1.0, 1.0], n)
    sw = rng.uniform(0.0, 2.0, n)
    x, v = rng.standard_normal(p + 1), rng.standard_normal(p + 1)
    alpha = np.r_[np.full(p, 0.5), 0.0]
    for dtype in (np.float64, np.float32):
        A = np.hstack([X64.astype(dtype).astype(np.float64), np.ones((n, 1))])
        z = A @ x
        r = -sw * y / (1 + np.exp(y * z))
        d = sw / (2 + np.exp(z) + np.exp(-z))
        for name, X in layouts(X64, dtype).items():
            for nt in (1, 2):
                obj = _core.BinaryLogistic(X, y, sample_weight=sw, n_threads=nt)
                obj.alpha = 0.5
                f, g = obj.value_grad(x)
                close(g, A.T @ r + alpha * x, f"binary grad {name}")
                obj.set_hessian_point(x)
                close(obj.apply(v), A.T @ (d * (A @ v)) + alpha * v,
                      f"binary hvp {name}")
                close(obj.hessian_diagonal(), (A * A).T @ d + alpha,
                      f"binary diag {name}")
                close(f, np.sum(sw * np.logaddexp(0, -y * z))
                      + 0.5 * np.sum(alpha * x * x), f"binary loss {name}")


def multinomial(X64, rng, K=3):
    n, p = X64.shape
    y = rng.integers(0, K, n)
    sw = rng.uniform(0.0, 2.0, n)
    x, v = rng.standard_normal((p + 1) * K), rng.standard_normal((p + 1) * K)
    for dtype in (np.float64, np.float32):
        A = np.hstack([X64.astype(dtype).astype(np.float64), np.ones((n, 1))])
        Z = A @ x.reshape(p + 1, K)
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        U = A @ v.reshape(p + 1, K)
        M = sw[:, None] * P * (U - np.sum(P * U, axis=1, keepdims=True))
        R = sw[:, None] * (P - np.eye(K)[y])
        for name, X in layouts(X64, dtype).items():
            for nt in (1, 2):
                obj = _core.Multinomial(X, y, n_classes=K, sample_weight=sw,
                                        n_threads=nt)
                _, g = obj.value_grad(x)
                close(g, (A.T @ R).ravel(), f"softmax grad {name}")
                obj.set_hessian_point(x)
                close(obj.probabilities, P, f"softmax P {name}")
                close(obj.apply(v), (A.T @ M).ravel(), f"softmax hvp {name}")


def solvers(X64, rng):
    n, p = X64.shape
    y = rng.choice([-1.0, 1.0], n)
    for X in layouts(X64, np.float64).values():
        obj = _core.BinaryLogistic(X, y, fit_intercept=False, n_threads=2)
        obj.alpha = 1.0
        x = np.zeros(p)
        memory = _core.LBFGSMemory(p, m=3)
        _, gnorm, _, _, status = _core.lbfgs(obj, x, 1e-8, memory=memory)
        if status != 0 or gnorm > 1e-8:
            sys.exit("valgrind_kernels: L-BFGS did not converge")
        memory.shift_penalty(np.full(p, 0.5))
        obj.alpha = 1.5
        _core.lbfgs(obj, x, 1e-8, memory=memory)
        obj.set_hessian_point(x)
        b = rng.standard_normal(p)
        H = np.column_stack([obj.apply(e) for e in np.eye(p)])
        for prec in (None, 1.0 / np.diag(H)):
            q = np.zeros(p)
            _, _, status = _core.cg(obj, b, q, 1e-10, preconditioner=prec)
            close(q, np.linalg.solve(H, b), "CG solution", rtol=1e-7)


def rbf(rng):
    for dtype in (np.float64, np.float32):
        for n, m, p in ((1, 1, 1), (17, 5, 3), (3, 515, 2)):
            X = rng.standard_normal((n, p)).astype(dtype)
            Y = rng.standard_normal((m, p)).astype(dtype)
            X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
            D2 = np.sum((X64[:, None] - Y64[None]) ** 2, axis=2)
            K = np.exp(-0.7 * D2)
            v = rng.standard_normal(m)
            for nt in (1, 2):
                close(_core.squared_distances(X, Y, n_threads=nt), D2, "D2")
                close(_core.rbf_kernel(X, Y, 0.7, n_threads=nt), K, "K")
                close(_core.rbf_from_sqdist(D2, 0.7, n_threads=nt), K, "K(D2)")
                kv, dkv = _core.rbf_products(X, Y, 0.7, v, n_threads=nt)
                close(kv, K @ v, "K v")
                close(dkv, (D2 * K) @ v, "(D2 K) v")
                close(_core.hadamard_matvec(D2, K, v, n_threads=nt),
                      (D2 * K) @ v, "hadamard")
                close(_core.d2k_matvec(K, X, Y, v, n_threads=nt), (D2 * K) @ v,
                      "d2k")
            Kxx = np.exp(-0.7 * np.sum((X64[:, None] - X64[None]) ** 2, axis=2))
            u = rng.standard_normal(n)
            for op in (_core.KernelRidgeOperator(X, 0.7, 0.1, K=Kxx, n_threads=2),
                       _core.KernelRidgeOperator(X, 0.7, 0.1, n_threads=2)):
                close(op.apply(u), Kxx @ u + 0.1 * u, "(K + mu I) u")
                q = np.zeros(n)
                _core.cg(op, u, q, 1e-10)
                close(q, np.linalg.solve(Kxx + 0.1 * np.eye(n), u), "KRR CG",
                      rtol=1e-7)
    U, _ = np.linalg.qr(rng.standard_normal((20, 4)))
    d = rng.uniform(0, 5, 4)
    u = rng.standard_normal(20)
    pre = _core.LowRankPreconditioner(U, d, 0.3)
    close(pre.apply(u), np.linalg.solve(U @ np.diag(d) @ U.T + 0.3 * np.eye(20), u),
          "low-rank preconditioner")


def main():
    # A noexcept kernel that raises (a bounds check in the checked build) only
    # prints "Exception ignored": collect those and fail.
    ignored = []
    sys.unraisablehook = ignored.append
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 4)) * (rng.random((9, 4)) < 0.6)
    X[2] = 0.0        # an empty row
    X[:, 1] = 0.0     # an empty column
    for X64 in (X, X[:1], X[:, :1], X[:0]):
        binary(X64, rng)
        multinomial(X64, rng)
    solvers(X + np.eye(9, 4), rng)
    rbf(rng)
    if ignored:
        first = ignored[0]
        raise SystemExit(
            f"valgrind_kernels: {len(ignored)} exception(s) raised in compiled code "
            f"and ignored; first: {first.exc_type.__name__}: {first.exc_value} "
            f"in {first.object!r}"
        )
    print("valgrind_kernels: every kernel ran and matched NumPy")


if __name__ == "__main__":
    main()
