"""Kernel micro-benchmarks: hoag's compiled kernels against NumPy/SciPy, and
their effective bandwidth against a plain array copy measured in the same run.

Kernels (``hoag._core``), on dense and CSR rows, float32 and float64, with one
and two OpenMP threads:

- loss+gradient and Hessian-vector product of binary logistic regression,
  against the NumPy/SciPy transcription of ``bench_logistic.py`` (checked to
  agree first);
- the RBF block ``K_ij = exp(-gamma ||x_i - x_j||^2)`` (dense rows only: the
  compiled RBF kernels take no sparse input), against scikit-learn's
  ``rbf_kernel``.

Effective bandwidth = bytes the kernel must move at least once / time: the
matrix (values, and for CSR the int32 column indices and row pointers) and the
vectors for the logistic kernels, the rows read and the float64 block written
for the RBF block. The copy reference is ``np.copyto`` of a large float64
array, counted the same way (the bytes it reads, since a logistic kernel only
reads its matrix). hoag's logistic kernels make one pass over the rows (``A w``
and ``A^T r`` row by row), so the count is what they read; on CSR rows each
stored value also costs a gather from ``x`` and a scatter into a per-thread
gradient of ``n_features`` doubles, random accesses a copy does not make.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf_kernel

from bench_logistic import NumpyLogistic, max_rel_diff, median, time_calls
from hoag import _core

THREADS = (1, 2)


def matrix_bytes(X):
    """Bytes of the matrix a kernel reads: values, and CSR indices (int32)."""
    if sp.issparse(X):
        return X.data.nbytes + 4 * (X.nnz + X.shape[0] + 1)
    return X.nbytes


def copy_bandwidth(n_bytes, number, repeat):
    """Bytes per second of ``np.copyto`` between two float64 arrays of ``n_bytes``
    (the bytes read per second)."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    seconds = median(time_calls(lambda: np.copyto(dst, src), number, repeat))
    return src.nbytes / seconds


def logistic_kernels(X, y, layout, number, repeat):
    """Rows of the loss+gradient and Hessian-vector timings for one matrix."""
    rows = []
    alpha = 1.0
    n_coef = X.shape[1] + 1
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.1, size=n_coef)
    v = rng.normal(size=n_coef)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        ref = NumpyLogistic(Xd, y, alpha)
        ref.set_hessian_point(x)
        vector_bytes = 8 * (2 * n_coef + 2 * X.shape[0])
        n_bytes = matrix_bytes(Xd) + vector_bytes
        fns = {"reference": (lambda: ref.value_grad(x), lambda: ref.hvp(v))}
        grad_out, hvp_out = np.empty(n_coef), np.empty(n_coef)
        for n_threads in THREADS:
            obj = _core.BinaryLogistic(Xd, y, n_threads=n_threads)
            obj.alpha = alpha
            obj.set_hessian_point(x)
            # Agreement first: a fast kernel that computes something else is no win.
            f, g = obj.value_grad(x)
            f_ref, g_ref = ref.value_grad(x)
            error = max(abs(f - f_ref) / abs(f_ref), max_rel_diff(g, g_ref),
                        max_rel_diff(obj.apply(v), ref.hvp(v)))
            if error > (1e-10 if dtype == np.float64 else 1e-4):
                raise RuntimeError(f"hoag and NumPy disagree ({layout}, "
                                   f"{np.dtype(dtype).name}): {error:.2e}")
            fns[f"hoag {n_threads} thr"] = (
                lambda o=obj: o.value_grad(x, grad_out),
                lambda o=obj: o.apply(v, out=hvp_out))
        for k, kernel in enumerate(("loss+grad", "Hessian-vector")):
            t = {label: median(time_calls(pair[k], number, repeat))
                 for label, pair in fns.items()}
            rows.append(dict(kernel=kernel, layout=layout,
                             dtype=np.dtype(dtype).name, bytes=n_bytes, times=t))
    return rows


def rbf_kernels(X, gamma, number, repeat):
    """Rows of the RBF block timings (dense rows, X against itself)."""
    rows = []
    n, p = X.shape
    for dtype in (np.float64, np.float32):
        Xd = np.ascontiguousarray(X, dtype=dtype)
        reference = sk_rbf_kernel(Xd.astype(np.float64), gamma=gamma)
        fns = {"reference": lambda: sk_rbf_kernel(Xd, gamma=gamma)}
        out = np.empty((n, n))
        for n_threads in THREADS:
            points = _core.Points(Xd)
            block = _core.rbf_kernel(points, gamma=gamma, n_threads=n_threads)
            error = float(np.max(np.abs(block - reference)))
            if error > (1e-12 if dtype == np.float64 else 1e-5):
                raise RuntimeError(f"RBF block disagrees ({np.dtype(dtype).name}): "
                                   f"{error:.2e}")
            fns[f"hoag {n_threads} thr"] = (
                lambda pts=points, nt=n_threads: _core.rbf_kernel(
                    pts, gamma=gamma, out=out, n_threads=nt))
        t = {label: median(time_calls(fn, number, repeat))
             for label, fn in fns.items()}
        rows.append(dict(kernel="RBF block", layout="dense",
                         dtype=np.dtype(dtype).name,
                         bytes=Xd.nbytes + 8 * n * n, times=t))
    return rows


def markdown_table(rows, copy_bw):
    """The kernels table: times, speed-ups over the reference, bandwidths."""
    labels = ["hoag 1 thr", "hoag 2 thr"]
    lines = [
        "## Kernels", "",
        f"Median time per call; speed-up = reference time / hoag time; bandwidth "
        f"= bytes the kernel must move / time, and as a share of np.copyto of a "
        f"large array measured in this run: {copy_bw / 1e9:.2f} GB/s (bytes read).",
        "",
        "| kernel | layout | dtype | MB | reference ms | hoag 1 thr ms | x | "
        "hoag 2 thr ms | x | GB/s 1 thr | GB/s 2 thr | best / copy |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        t = r["times"]
        bw = [r["bytes"] / t[label] for label in labels]
        cells = [r["kernel"], r["layout"], r["dtype"], f"{r['bytes'] / 1e6:.1f}",
                 f"{t['reference'] * 1e3:.2f}"]
        for label in labels:
            cells += [f"{t[label] * 1e3:.2f}", f"{t['reference'] / t[label]:.2f}"]
        cells += [f"{bw[0] / 1e9:.2f}", f"{bw[1] / 1e9:.2f}",
                  f"{max(bw) / copy_bw:.2f}"]
        r["bandwidth"] = dict(zip(labels, bw))
        r["share_of_copy"] = max(bw) / copy_bw
        lines.append("| " + " | ".join(cells) + " |")
    reference = ("reference = the NumPy/SciPy transcription of bench_logistic.py "
                 "(single-threaded SciPy sparse products, BLAS as set) for the "
                 "logistic kernels, scikit-learn's rbf_kernel for the RBF block.")
    return "\n".join(lines + ["", reference]) + "\n"


def run_kernels(csr, y_csr, dense, y_dense, rbf_rows, gamma, number, repeat,
                copy_bytes):
    """Every kernel row and the copy bandwidth.

    Returns
    -------
    rows : list of dict
    copy_bw : float
        Bytes per second of the copy.
    """
    copy_bw = copy_bandwidth(copy_bytes, number, repeat)
    rows = logistic_kernels(csr, y_csr, "CSR", number, repeat)
    rows += logistic_kernels(dense, y_dense, "dense", number, repeat)
    rows += rbf_kernels(rbf_rows, gamma, number, repeat)
    return rows, copy_bw
