"""Real datasets for tests, benchmarks and the command line.

The data files are not part of hoag: they are read at run time from the folder
named by the environment variable ``HOAG_DATA_DIR`` (default ``../shared/data``
relative to the current directory). Bundled scikit-learn datasets need no file.

:func:`load_file` reads a user's file (svmlight / LIBSVM, CSV or ``.npz``, the
text formats optionally compressed with gzip or bzip2) for the command line.
"""

import bz2
import csv
import gzip
import io
import logging
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DatasetNotFoundError",
    "a9a_split",
    "data_dir",
    "detect_format",
    "load_breast_cancer_standardised",
    "load_file",
    "load_diabetes_standardised",
    "load_news20_binary",
    "mnist_split",
    "news20_split",
    "parkinsons_split",
]

logger = logging.getLogger(__name__)

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


def a9a_split(folder=None, seed=0):
    """A fixed train / validation / test split of LIBSVM's a9a (UCI Adult).

    The 32,561 rows of ``a9a.svm.bz2`` (123 binary features, labels in
    {-1, +1}) split at random with ``seed``, stratified by label, into halves
    for training (16,280 rows) and a quarter each for validation (8,140) and
    test (8,141).

    Parameters
    ----------
    folder : str or path-like, optional
        Folder holding ``a9a.svm.bz2``; default :func:`data_dir`.
    seed : int, default=0
        Seed of the split.

    Returns
    -------
    X_train, y_train, X_val, y_val, X_test, y_test
        CSR float64 matrices of 123 columns and label arrays in {-1, +1}.
    """
    from sklearn.datasets import load_svmlight_file
    from sklearn.model_selection import train_test_split

    X, y = load_svmlight_file(str(_find("a9a.svm.bz2", folder)), n_features=123)
    y = np.where(y > 0, 1, -1)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=0.5, stratify=y, random_state=seed)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=seed)
    return X_train, y_train, X_val, y_val, X_test, y_test


def mnist_split(folder=None, seed=0):
    """A fixed 5,000 / 2,500 / 2,500 split of the MNIST test images.

    The 10,000 images of ``mnist_test.npz``, pixels scaled to [0, 1], split at
    random with ``seed`` and stratified by digit into a training part of 5,000
    rows, a validation part of 2,500 and a test part of 2,500 (the setting of
    the per-pixel example of HOAG).

    Parameters
    ----------
    folder : str or path-like, optional
        Data folder; default :func:`data_dir`.
    seed : int, default=0
        Seed of the split.

    Returns
    -------
    X_train, y_train, X_val, y_val, X_test, y_test
        Dense C-contiguous float64 arrays of 784 pixels (28 x 28, row-major)
        and integer labels 0-9.
    """
    from sklearn.model_selection import train_test_split

    with np.load(_find("mnist_test.npz", folder)) as z:
        X = z["X"].astype(np.float64) / 255.0
        y = z["y"].astype(np.intp)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=5000, stratify=y, random_state=seed)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=2500, stratify=y_rest, random_state=seed)
    return (np.ascontiguousarray(X_train), y_train, np.ascontiguousarray(X_val),
            y_val, np.ascontiguousarray(X_test), y_test)


def load_breast_cancer_standardised():
    """scikit-learn's bundled breast cancer data, each feature standardised.

    The data need no file: 569 samples, 30 dense features, binary target
    (0 = malignant, 212 samples; 1 = benign, 357 samples).

    Returns
    -------
    X : ndarray of shape (569, 30), float64
        Features with zero mean and unit variance.
    y : ndarray of shape (569,), int
        Labels in {0, 1}.

    Notes
    -----
    The :class:`~sklearn.preprocessing.StandardScaler` is fit on all 569 rows,
    so the later validation and test parts have contributed to the means and
    standard deviations. Strictly, a scaler should be fit on the training part
    only. The choice made here is deliberate: the leak uses no labels and only
    affects the conditioning of an l2-penalised fit, and one fixed array lets
    the same data be written to files and compared across any split. For a
    leak-free protocol, standardise inside each split (for example with a
    :class:`~sklearn.pipeline.Pipeline`) from ``load_breast_cancer()``.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# The Parkinson's telemonitoring features of the HOAG paper: the 16 voice
# measures plus age and sex (not the subject number nor the test time).
PARKINSONS_FEATURES = (
    "age", "sex", "Jitter(%)", "Jitter(Abs)", "Jitter:RAP", "Jitter:PPQ5",
    "Jitter:DDP", "Shimmer", "Shimmer(dB)", "Shimmer:APQ3", "Shimmer:APQ5",
    "Shimmer:APQ11", "Shimmer:DDA", "NHR", "HNR", "RPDE", "DFA", "PPE",
)


def parkinsons_split(folder=None, seed=0, n_train=2000, n_val=1500,
                     target="motor_UPDRS"):
    """Training and validation parts of the Parkinson's telemonitoring data.

    The kernel ridge set of the HOAG paper: the 18 features of
    :data:`PARKINSONS_FEATURES`, ``n_train`` and ``n_val`` disjoint rows drawn at
    random with ``seed``, each feature standardised with the mean and standard
    deviation of the training part (``(x - mean) / std``); the target is not
    transformed.

    Parameters
    ----------
    folder : str or path-like, optional
        Folder holding ``parkinsons_updrs.csv.gz``; default :func:`data_dir`.
    seed : int, default=0
        Seed of the row draw (``numpy.random.default_rng(seed).permutation``).
    n_train, n_val : int, default=2000, 1500
        Sizes of the two parts (at most 5,875 rows together).
    target : {"motor_UPDRS", "total_UPDRS"}, default="motor_UPDRS"
        Target column.

    Returns
    -------
    X_train, y_train, X_val, y_val : ndarrays of float64
        ``(n_train, 18)``, ``(n_train,)``, ``(n_val, 18)``, ``(n_val,)``.
    """
    import pandas as pd

    frame = pd.read_csv(_find("parkinsons_updrs.csv.gz", folder))
    if target not in ("motor_UPDRS", "total_UPDRS"):
        raise ValueError(f"target must be 'motor_UPDRS' or 'total_UPDRS', got "
                         f"{target!r}")
    if n_train < 1 or n_val < 1 or n_train + n_val > len(frame):
        raise ValueError(f"n_train={n_train} and n_val={n_val} must be positive "
                         f"and add up to at most {len(frame)}")
    X = frame[list(PARKINSONS_FEATURES)].to_numpy(dtype=np.float64)
    y = frame[target].to_numpy(dtype=np.float64)
    rows = np.random.default_rng(seed).permutation(len(frame))
    train, val = rows[:n_train], rows[n_train:n_train + n_val]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    return ((X[train] - mean) / std, y[train], (X[val] - mean) / std, y[val])


def load_diabetes_standardised():
    """scikit-learn's bundled diabetes data, each feature standardised.

    442 samples, 10 dense features with zero mean and unit variance (the same
    choice, and the same caveat about the later splits, as
    :func:`load_breast_cancer_standardised`); the target (a disease progression
    score, 25 to 346) is not transformed.

    Returns
    -------
    X : ndarray of shape (442, 10), float64
    y : ndarray of shape (442,), float64
    """
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y.astype(np.float64)


# --------------------------------------------------------------------------
# Reading a user's file

_COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open}
_SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm", ".txt", ".t")
FORMATS = ("svmlight", "csv", "npz")
# Lines read when the extension does not tell the format.
_SNIFF_LINES = 5
# What a damaged or malformed file can raise while it is read (gzip raises
# zlib.error for corrupt deflate data, the svmlight parser OverflowError for an
# index beyond a C int); each becomes a ValueError naming the file.
_READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, OverflowError, zlib.error)
# The svmlight parser and the compiled kernels index features with C ints.
_MAX_INDEX = 2**31 - 2


def _split_compression(path):
    """The path's format suffix and its compression suffix ('' if none)."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = ""
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        compression = suffixes.pop()
    return (suffixes[-1] if suffixes else ""), compression


def _open_text(path, compression):
    """Open a (possibly compressed) text file; a BOM at the start is dropped."""
    if compression:
        raw = _COMPRESSIONS[compression](path, "rb")
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _check_path(path):
    """Raise a clear error for a missing file, a directory or an empty file."""
    if not path.exists():
        raise DatasetNotFoundError(f"{str(path)!r}: no such file")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a data file")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty")


def _sniff(path, compression):
    """Tell svmlight from CSV (or npz) by the first lines of the file."""
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04" and not compression:
            return "npz"
    lines = []
    with _open_text(path, compression) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                lines.append(line)
            if len(lines) >= _SNIFF_LINES:
                break
    if not lines:
        return None
    tokens = [line.split()[1:] for line in lines]
    if any(":" in t for toks in tokens for t in toks):
        return "svmlight"
    if any("," in line for line in lines):
        return "csv"
    return None


def detect_format(path):
    """The format of a data file: by its extension, else by its content.

    Parameters
    ----------
    path : str or path-like
        The file. Extensions (before an optional ``.gz`` / ``.bz2``):
        ``.svm``, ``.svmlight``, ``.libsvm``, ``.txt``, ``.t`` for svmlight,
        ``.csv`` for CSV, ``.npz`` for NumPy archives.

    Returns
    -------
    str
        One of ``"svmlight"``, ``"csv"``, ``"npz"``.

    Raises
    ------
    ValueError
        If neither the extension nor the first lines tell the format.
    """
    path = Path(path)
    suffix, compression = _split_compression(path)
    if suffix == ".npz" and not compression:
        return "npz"
    if suffix == ".csv":
        return "csv"
    if suffix in _SVMLIGHT_SUFFIXES:
        return "svmlight"
    try:
        found = _sniff(path, compression)
    except _READ_ERRORS as exc:
        raise ValueError(f"{str(path)!r}: cannot read the file: {exc}") from exc
    if found is None:
        raise ValueError(
            f"{str(path)!r}: cannot tell the format from the name or the first "
            "lines; use the extension .svm, .csv or .npz (optionally .gz / .bz2)"
        )
    return found


def load_file(path, target=None):
    """Read features and labels from a svmlight, CSV or ``.npz`` file.

    Parameters
    ----------
    path : str or path-like
        The file; its format comes from :func:`detect_format`.

        - svmlight / LIBSVM (plain, ``.gz`` or ``.bz2``), read with
          :func:`sklearn.datasets.load_svmlight_file` into a CSR matrix.
        - CSV (plain, ``.gz`` or ``.bz2``, UTF-8) with a header row. The target
          is the column named ``target`` if ``target`` is None and there is
          such a column, else the last column. A target whose values are not
          all numbers is kept as strings; every feature must be a number.
        - ``.npz``: arrays ``X`` and ``y``, or ``X_train`` and ``y_train``, or
          the CSR parts ``data``, ``indices``, ``indptr``, ``shape`` and ``y``.
          An optional ``feature_names`` array is returned.
    target : str, optional
        CSV: the name of the target column. ``.npz``: the name of the label
        array. Not allowed for svmlight, whose first field is the label.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse.csr_matrix
        Features, float64.
    y : ndarray of shape (n_samples,)
        Labels: float64 numbers, or strings (CSV) as read.
    feature_names : list of str or None
        Column names (CSV, or ``.npz`` with ``feature_names``), else None.

    Raises
    ------
    DatasetNotFoundError
        If the file does not exist.
    ValueError
        For a directory, an empty file, an unknown format, a malformed line
        (the message names the file and the line) or inconsistent arrays.
    """
    path = Path(path)
    _check_path(path)
    fmt = detect_format(path)
    _, compression = _split_compression(path)
    if fmt == "svmlight":
        if target is not None:
            raise ValueError(
                f"{str(path)!r}: a target name applies to CSV and .npz files; "
                "the label of a svmlight file is the first field of each line"
            )
        X, y, names = _load_svmlight(path, compression)
    elif fmt == "csv":
        X, y, names = _load_csv(path, compression, target)
    else:
        X, y, names = _load_npz(path, target)
    if X.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no samples")
    logger.debug("read %s (%s): %d x %d", path, fmt, X.shape[0], X.shape[1])
    return X, y, names


def _load_svmlight(path, compression):
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path))
    except (ValueError, *_READ_ERRORS) as exc:
        # The parser names neither the file nor the line: find the line.
        where = _bad_svmlight_line(path, compression)
        raise ValueError(f"{str(path)!r}{where}: not valid svmlight: {exc}") from exc
    if X.shape[0] and X.nnz == 0:
        # The parser gives one column of zeros when no line has a feature.
        raise ValueError(f"{str(path)!r}: no line holds a feature (index:value)")
    return X, y, None


def _bad_svmlight_line(path, compression):
    """', line N' for the first line that is not valid svmlight, else ''."""
    try:
        with _open_text(path, compression) as f:
            for number, line in enumerate(f, start=1):
                if not _valid_svmlight_line(line):
                    return f", line {number}"
    except _READ_ERRORS:
        pass
    return ""


def _valid_svmlight_line(line):
    """Whether one line reads as ``label [qid:q] index:value ...``."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        return True
    try:
        float(fields[0])
        last = -1
        for field in fields[1:]:
            key, value = field.split(":")
            if key == "qid":
                int(value)
                continue
            index = int(key)
            float(value)
            if index <= last or index > _MAX_INDEX:
                return False
            last = index
    except ValueError:
        return False
    return True


def _load_csv(path, compression, target):
    try:
        with _open_text(path, compression) as f:
            header, rows, line_numbers = _read_csv_rows(path, f)
    except (*_READ_ERRORS, csv.Error) as exc:
        raise ValueError(f"{str(path)!r}: cannot read as CSV: {exc}") from exc

    # The target column: named, else 'target', else the last one.
    if len(header) < 2:
        raise ValueError(
            f"{str(path)!r}: needs at least one feature column and a target column"
        )
    if target is not None:
        if target not in header:
            raise ValueError(
                f"{str(path)!r}: no column named {target!r}; the columns are "
                + ", ".join(repr(h) for h in header)
            )
        t = header.index(target)
    else:
        t = header.index("target") if "target" in header else len(header) - 1

    feature_columns = [j for j in range(len(header)) if j != t]
    X = np.empty((len(rows), len(feature_columns)), dtype=np.float64)
    for k, j in enumerate(feature_columns):
        X[:, k] = _numeric_column(path, rows, j, header[j], line_numbers)
    for row, number in zip(rows, line_numbers):
        if not row[t].strip():
            raise ValueError(
                f"{str(path)!r}, line {number}: the target column {header[t]!r} "
                "is empty"
            )
    y = _target_column([row[t] for row in rows])
    return X, y, [header[j] for j in feature_columns]


def _read_csv_rows(path, f):
    """Header, data rows and their line numbers; blank lines are skipped."""
    reader = csv.reader(f)
    header = None
    rows, line_numbers = [], []
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            if all(_is_number(cell) for cell in header):
                raise ValueError(
                    f"{str(path)!r}, line {reader.line_num}: the first row holds "
                    "only numbers; a CSV file needs a header row of column names"
                )
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{str(path)!r}, line {reader.line_num}: {len(row)} field(s), "
                f"the header has {len(header)}"
            )
        rows.append(row)
        line_numbers.append(reader.line_num)
    if header is None:
        raise ValueError(f"{str(path)!r} holds no CSV header and no data")
    if not rows:
        raise ValueError(f"{str(path)!r}: no data rows after the header")
    return header, rows, line_numbers


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_column(path, rows, j, name, line_numbers):
    """Column j as float64; a non-number is an error naming column and line."""
    column = [row[j] for row in rows]
    try:
        return np.asarray(column, dtype=np.float64)
    except ValueError:
        pass
    for value, number in zip(column, line_numbers):
        if not _is_number(value):
            raise ValueError(
                f"{str(path)!r}, line {number}: column {name!r} holds "
                f"{value!r}, not a number (only the target may be non-numeric)"
            )
    # numpy refused a text that float() reads (rare spellings): use float().
    return np.array([float(value) for value in column])


def _target_column(values):
    """Numbers as float64 when every value is one, else the strings as read."""
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        return np.asarray([v.strip() for v in values])


_CSR_PARTS = ("data", "indices", "indptr", "shape")


def _load_npz(path, target):
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise ValueError(f"{str(path)!r}: not a .npz file (a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    # zipfile raises NotImplementedError for an unknown compression method and
    # RuntimeError for an encrypted member.
    except (ValueError, *_READ_ERRORS, zipfile.BadZipFile, NotImplementedError,
            RuntimeError) as exc:
        raise ValueError(f"{str(path)!r}: cannot read as .npz: {exc}") from exc

    names = ", ".join(sorted(arrays)) or "none"
    if all(key in arrays for key in _CSR_PARTS):
        x_key, y_key = "data, indices, indptr, shape", "y"
    elif "X" in arrays:
        x_key, y_key = "X", "y"
    elif "X_train" in arrays:
        x_key, y_key = "X_train", "y_train"
    else:
        raise ValueError(
            f"{str(path)!r}: expected arrays X and y, X_train and y_train, or "
            f"data, indices, indptr, shape and y; found: {names}"
        )
    y_key = target if target is not None else y_key
    if y_key not in arrays:
        raise ValueError(f"{str(path)!r}: no label array {y_key!r}; found: {names}")

    parts = ([arrays[x_key]] if x_key in ("X", "X_train")
             else [arrays[key] for key in _CSR_PARTS])
    # float64 would drop an imaginary part silently (with a ComplexWarning).
    if any(np.iscomplexobj(a) for a in parts) or np.iscomplexobj(arrays[y_key]):
        raise ValueError(f"{str(path)!r}: complex values in {x_key} or {y_key}; "
                         "features and labels must be real")
    try:
        if x_key in ("X", "X_train"):
            X = np.asarray(arrays[x_key], dtype=np.float64)
        else:
            X = sp.csr_matrix(
                (
                    arrays["data"].astype(np.float64),
                    arrays["indices"],
                    arrays["indptr"],
                ),
                shape=tuple(int(n) for n in arrays["shape"]),
            )
            # scipy trusts the parts unless asked: an index out of range would
            # reach the kernels.
            X.check_format(full_check=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{str(path)!r}: bad features {x_key}: {exc}") from exc
    y = np.asarray(arrays[y_key])
    if X.ndim != 2:
        raise ValueError(
            f"{str(path)!r}: {x_key} has shape {X.shape}; expected 2 dimensions"
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{str(path)!r}: {y_key} has shape {y.shape}; expected "
            f"({X.shape[0]},), one label per row of {x_key}"
        )
    feature_names = None
    if "feature_names" in arrays and arrays["feature_names"].shape == (X.shape[1],):
        feature_names = [str(name) for name in arrays["feature_names"]]
    return X, y, feature_names
