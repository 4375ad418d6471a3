"""Real datasets for tests, benchmarks and the command line.

The data files are not part of hoag: they are read at run time from the folder
named by the environment variable ``HOAG_DATA_DIR`` (default ``../shared/data``
relative to the current directory). Bundled scikit-learn datasets need no file.
"""

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DatasetNotFoundError",
    "data_dir",
    "load_news20_binary",
    "news20_split",
]

DEFAULT_DATA_DIR = os.path.join("..", "shared", "data")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is not in the data folder."""


def data_dir():
    """The data folder: ``$HOAG_DATA_DIR``, or ``../shared/data`` by default.

    Returns
    -------
    pathlib.Path
        The folder (it may not exist; loaders raise :class:`DatasetNotFoundError`).
    """
    return Path(os.environ.get("HOAG_DATA_DIR", DEFAULT_DATA_DIR))


def _find(name, folder=None):
    path = Path(folder) if folder is not None else data_dir()
    path = path / name
    if not path.is_file():
        raise DatasetNotFoundError(
            f"dataset file {str(path)!r} not found; set HOAG_DATA_DIR to the folder "
            f"that holds {name!r}"
        )
    return path


def load_news20_binary(folder=None):
    """The 20newsgroups counts as a binary problem, as in the HOAG example.

    Rows are L2-normalised term counts (scikit-learn's
    ``fetch_20newsgroups_vectorized`` default); the label is ``+1`` for the
    newsgroups numbered 10 to 19 and ``-1`` for the others.

    Parameters
    ----------
    folder : str or path-like, optional
        Folder holding ``news20_bydate_counts.npz``; default :func:`data_dir`.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (18846, 130108), float64
    y : ndarray of shape (18846,), values in {-1, +1}
    is_train : ndarray of bool, shape (18846,)
        The by-date training subset (the first 11,314 rows).
    """
    from sklearn.preprocessing import normalize

    with np.load(_find("news20_bydate_counts.npz", folder)) as z:
        X = sp.csr_matrix(
            (z["data"].astype(np.float64), z["indices"], z["indptr"]),
            shape=tuple(z["shape"]),
        )
        y = np.where(z["y"] >= 10, 1, -1)
        is_train = z["is_train"].astype(bool)
    return normalize(X), y, is_train


def news20_split(folder=None, seed=0):
    """The fixed train / validation / test split of the binary 20newsgroups data.

    Training part: the 11,314 by-date training posts. Validation and test parts:
    the 7,532 by-date test posts, split in two halves at random with ``seed``.

    Parameters
    ----------
    folder : str or path-like, optional
        Data folder; default :func:`data_dir`.
    seed : int, default=0
        Seed of the validation/test split.

    Returns
    -------
    X_train, y_train, X_val, y_val, X_test, y_test
        CSR float64 matrices and label arrays in {-1, +1}.
    """
    X, y, is_train = load_news20_binary(folder)
    rest = np.flatnonzero(~is_train)
    rest = np.random.default_rng(seed).permutation(rest)
    val, test = np.sort(rest[: rest.size // 2]), np.sort(rest[rest.size // 2 :])
    train = np.flatnonzero(is_train)
    return X[train], y[train], X[val], y[val], X[test], y[test]
