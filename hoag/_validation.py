"""Checks of user input at the public boundary, before any compiled kernel runs.

The compiled kernels index without bounds checks and read what they are given:
every array a problem passes to them goes through these functions first, so
that bad input ends with an error naming the argument, not with a wrong result
or a crash. scikit-learn's validation does the common part (dtype, dimensions,
NaN and inf, empty data); the rest is what the kernels need in addition.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight, check_array

__all__ = ["check_fold", "check_rows", "check_sample_weight", "check_target"]

# The kernels index features and stored values with C ints.
_MAX_INT32 = np.iinfo(np.intc).max


def check_rows(X, name, *, accept_sparse=True):
    """Rows for the kernels: float32/float64, C-contiguous dense or canonical CSR.

    Dense input that is not C-contiguous is copied once into C order; read-only
    input (a memory map opened ``'r'``) is used as is. Sparse input in any
    scipy format (matrix or array) is converted once to CSR; a CSR input with
    float data, int32 indices and sorted, unique indices is returned as is (no
    copy), int64 indices are narrowed to int32 in a copy of the index arrays
    only (the values are shared).

    Parameters
    ----------
    X : array-like or scipy sparse matrix/array of shape (n_samples, n_features)
    name : str
        The argument's name, for the messages (``"X_train"``).
    accept_sparse : bool, default=True
        False for kernels that take dense rows only.

    Returns
    -------
    ndarray or scipy.sparse CSR matrix/array
        float32 stays float32, every other dtype becomes float64.

    Raises
    ------
    ValueError
        For NaN or inf, no rows or no columns, a dimension other than 2,
        complex or non-numeric values, or more than 2**31 - 1 columns or
        stored values.
    TypeError
        For sparse input when ``accept_sparse`` is False.
    """
    if sp.issparse(X) and not accept_sparse:
        raise TypeError(f"{name} must be dense (the RBF kernels take dense rows); "
                        f"got a sparse {X.format!r} matrix: use .toarray()")
    try:
        X = check_array(
            X, accept_sparse="csr" if accept_sparse else False,
            dtype=[np.float64, np.float32], order="C", accept_large_sparse=True,
            input_name=name,
        )
    except ValueError as exc:
        # Some of scikit-learn's messages name the input, others do not.
        if name in str(exc):
            raise
        raise ValueError(f"{name}: {exc}") from exc
    if not sp.issparse(X):
        return X

    if X.shape[1] > _MAX_INT32 or X.nnz > _MAX_INT32:
        raise ValueError(f"{name} has {X.shape[1]} columns and {X.nnz} stored "
                         f"values; the kernels take at most 2**31 - 1 of each")
    if X.indices.dtype != np.intc or X.indptr.dtype != np.intc:
        # The same values with int32 index arrays (scipy shares data here).
        X = type(X)((X.data, X.indices.astype(np.intc), X.indptr.astype(np.intc)),
                    shape=X.shape)
    if not X.has_canonical_format:
        # Duplicates mean a sum; the kernels need each (row, column) once.
        X = X.copy()
        X.sum_duplicates()
    return X


def check_target(y, n, name, *, dtype=np.float64):
    """A finite 1-D target of length ``n`` (a column vector is refused).

    Parameters
    ----------
    y : array-like of shape (n,)
    n : int
        The number of rows of the matching ``X``.
    name : str
        The argument's name (``"y_train"``).
    dtype : dtype or None, default=np.float64
        None keeps the dtype.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    ValueError
        For another shape, NaN or inf, or non-numeric or complex values.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got {y.dtype} values")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per row, got "
                         f"{y.shape}")
    if dtype is not None:
        y = y.astype(dtype, copy=False)
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} contains {y[i]} at index {i} ({int(bad.sum())} "
                         f"non-finite value(s) in all)")
    return y


def check_sample_weight(sample_weight, X, name):
    """Finite, non-negative weights, one per row of ``X``, not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        None means ones.
    X : array-like or sparse matrix with n_samples rows
    name : str
        The argument's name (``"sample_weight_train"``).

    Returns
    -------
    ndarray of shape (n_samples,), float64

    Raises
    ------
    ValueError
        For a wrong length, NaN or inf, a negative weight or all zeros.
    """
    if sample_weight is None:
        return np.ones(X.shape[0])
    try:
        return _check_sample_weight(sample_weight, X, dtype=np.float64,
                                    ensure_non_negative=True)
    except ValueError as exc:
        # scikit-learn calls every such argument "sample_weight".
        raise ValueError(f"{name}: {exc}") from exc


def check_fold(train, val, n_samples, k):
    """The index arrays of fold ``k`` of a ``cv``: integers in [0, n_samples).

    numpy would wrap a negative index to the end and fail on a large one with
    a message that names neither ``cv`` nor the fold; a boolean mask would
    select rows, not name them.

    Parameters
    ----------
    train, val : array-like of int
        Training and validation indices of the fold.
    n_samples : int
    k : int
        The fold's number, for the messages.

    Returns
    -------
    train, val : ndarray of int

    Raises
    ------
    ValueError
        For an empty part, non-integer indices or an index out of range.
    """
    parts = []
    for part, indices in (("training", train), ("validation", val)):
        indices = np.asarray(indices)
        if indices.size == 0:
            raise ValueError(f"cv: fold {k}: the {part} part is empty")
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise ValueError(
                f"cv: fold {k}: the {part} indices must be integers (a 1-D array "
                f"of row numbers), got {indices.dtype} array of shape "
                f"{indices.shape}"
            )
        outside = (indices < 0) | (indices >= n_samples)
        if outside.any():
            raise ValueError(
                f"cv: fold {k}: index {indices[outside][0]} is out of range for "
                f"{n_samples} samples"
            )
        parts.append(indices)
    return tuple(parts)
