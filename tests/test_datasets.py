"""Tests of the data loaders: round trips through every format and compression,
clear errors for bad files, and the fixed 20newsgroups split."""

import bz2
import gzip

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import dump_svmlight_file, load_breast_cancer

from hoag.datasets import (
    DatasetNotFoundError,
    detect_format,
    load_breast_cancer_standardised,
    load_file,
)

OPENERS = {"": open, ".gz": gzip.open, ".bz2": bz2.open}


@pytest.fixture(scope="module")
def cancer():
    """Real data: breast cancer features, integer labels and names."""
    data = load_breast_cancer()
    return data.data, data.target, list(data.feature_names), data.target_names


def _write_csv(path, header, X, labels):
    opener = OPENERS[path.suffix if path.suffix in (".gz", ".bz2") else ""]
    with opener(path, "wt", newline="") as f:
        f.write(",".join(header) + "\n")
        for row, label in zip(X, labels):
            # repr() of a float reads back exactly.
            f.write(",".join([repr(float(v)) for v in row] + [str(label)]) + "\n")


# --------------------------------------------------------------------------
# Bundled data


def test_breast_cancer_standardised():
    X, y = load_breast_cancer_standardised()
    assert X.shape == (569, 30) and y.shape == (569,)
    assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    assert_allclose(X.std(axis=0), 1, rtol=1e-12)
    assert_array_equal(np.bincount(y), [212, 357])


# --------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2"])
@pytest.mark.parametrize("suffix", [".svm", ".libsvm", ".txt", ".t"])
def test_svmlight_round_trip(tmp_path, cancer, suffix, compression):
    X, y, _, _ = cancer
    path = tmp_path / f"cancer{suffix}{compression}"
    with OPENERS[compression](path, "wb") as f:
        dump_svmlight_file(X, y, f)
    assert detect_format(path) == "svmlight"

    X2, y2, names = load_file(path)
    assert sp.issparse(X2) and X2.dtype == np.float64
    # dump_svmlight_file writes 16 significant digits.
    assert_allclose(X2.toarray(), X, rtol=1e-15)
    assert_array_equal(y2, y)
    assert names is None


def test_svmlight_detected_by_content(tmp_path, cancer):
    X, y, _, _ = cancer
    path = tmp_path / "cancer.data.gz"
    with gzip.open(path, "wb") as f:
        dump_svmlight_file(X[:50], y[:50], f)
    assert detect_format(path) == "svmlight"
    X2, y2, _ = load_file(path)
    assert_allclose(X2.toarray(), X[:50], rtol=1e-15)
    assert_array_equal(y2, y[:50])


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2"])
def test_csv_round_trip_last_column(tmp_path, cancer, compression):
    X, y, names, _ = cancer
    path = tmp_path / f"cancer.csv{compression}"
    _write_csv(path, names + ["diagnosis"], X, y)

    X2, y2, names2 = load_file(path)
    assert_array_equal(X2, X)
    assert_array_equal(y2, y)
    assert y2.dtype == np.float64
    assert names2 == names


def test_csv_target_by_name_and_string_labels(tmp_path, cancer):
    X, y, names, target_names = cancer
    labels = target_names[y]
    path = tmp_path / "cancer.csv.bz2"
    # The target is not the last column: move it to the front.
    with bz2.open(path, "wt", newline="") as f:
        f.write(",".join(["diagnosis"] + names) + "\n")
        for row, label in zip(X, labels):
            f.write(",".join([label] + [repr(float(v)) for v in row]) + "\n")

    X2, y2, names2 = load_file(path, target="diagnosis")
    assert_array_equal(X2, X)
    assert_array_equal(y2, labels)
    assert y2.dtype.kind == "U"
    assert names2 == names


def test_csv_column_named_target_is_the_default(tmp_path, cancer):
    X, y, names, _ = cancer
    path = tmp_path / "cancer.csv"
    with open(path, "w", newline="") as f:
        f.write(",".join(["target"] + names[:3]) + "\n")
        for row, label in zip(X, y):
            f.write(",".join([str(label)] + [repr(float(v)) for v in row[:3]]))
            f.write("\n")
    X2, y2, names2 = load_file(path)
    assert_array_equal(X2, X[:, :3])
    assert_array_equal(y2, y)
    assert names2 == names[:3]


def test_real_csv_with_string_class(require_data):
    X, y, names = load_file(require_data("magic04.csv.gz"))
    assert X.shape == (19020, 10)
    assert names[0] == "fLength"
    assert sorted(np.unique(y)) == ["g", "h"]
    assert (y == "g").sum() == 12332


@pytest.mark.parametrize("layout", ["X_y", "train", "csr"])
def test_npz_round_trip(tmp_path, cancer, layout):
    X, y, names, _ = cancer
    path = tmp_path / "cancer.npz"
    if layout == "X_y":
        np.savez(path, X=X, y=y, feature_names=np.array(names))
    elif layout == "train":
        np.savez_compressed(path, X_train=X, y_train=y, X_test=X[:5], y_test=y[:5])
    else:
        A = sp.csr_matrix(X.astype(np.float32))
        np.savez(path, data=A.data, indices=A.indices, indptr=A.indptr,
                 shape=np.array(A.shape), y=y)

    X2, y2, names2 = load_file(path)
    assert X2.dtype == np.float64
    if layout == "csr":
        assert sp.issparse(X2)
        assert_array_equal(X2.toarray(), X.astype(np.float32))
    else:
        assert_array_equal(X2, X)
    assert_array_equal(y2, y)
    assert names2 == (names if layout == "X_y" else None)


def test_npz_target_names_the_label_array(tmp_path, cancer):
    X, y, _, _ = cancer
    path = tmp_path / "cancer.npz"
    np.savez(path, X=X, label=1 - y)
    X2, y2, _ = load_file(path, target="label")
    assert_array_equal(y2, 1 - y)


# --------------------------------------------------------------------------
# Errors name the file and, for text formats, the line


def _error(path, **kwargs):
    with pytest.raises(ValueError) as info:
        load_file(path, **kwargs)
    return str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nope.csv"):
        load_file(tmp_path / "nope.csv")


def test_directory_and_empty_file(tmp_path):
    assert "is a directory" in _error(tmp_path)
    (tmp_path / "empty.svm").write_bytes(b"")
    assert "empty.svm' is empty" in _error(tmp_path / "empty.svm")


def test_malformed_svmlight_line(tmp_path):
    path = tmp_path / "bad.svm"
    path.write_text("1 1:0.5 2:1.5\n-1 1:0.5 2:oops\n1 3:1\n")
    message = _error(path)
    assert "bad.svm" in message and "line 2" in message


def test_unsorted_svmlight_indices(tmp_path):
    path = tmp_path / "bad.svm.gz"
    with gzip.open(path, "wt") as f:
        f.write("1 1:0.5 2:1.5\n1 1:0.5 2:1.5\n-1 4:0.5 2:1\n")
    message = _error(path)
    assert "bad.svm.gz" in message and "line 3" in message


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "data.svm.bz2"
    path.write_bytes(b"this is not bzip2")
    assert "data.svm.bz2" in _error(path)


def test_csv_non_numeric_feature_names_column_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n5,five,x\n")
    message = _error(path)
    assert "bad.csv" in message and "line 4" in message and "'b'" in message


def test_csv_ragged_row_and_header_only(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,label\n1,2,0\n3,4\n")
    assert "line 3" in _error(path)
    path = tmp_path / "header.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("a,b,label\n")
    assert "no data rows" in _error(path)


def test_csv_without_header_and_unknown_target(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("1,2,0\n3,4,1\n")
    assert "header" in _error(path)
    path = tmp_path / "ok.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    message = _error(path, target="class")
    assert "'class'" in message and "'label'" in message


def test_npz_errors(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, features=np.zeros((3, 2)))
    assert "found: features" in _error(path)
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(4))
    assert "one label per row" in _error(path)
    path = tmp_path / "fake.npz"
    path.write_text("not a zip file")
    assert "fake.npz" in _error(path)


def test_unknown_format_and_target_for_svmlight(tmp_path, cancer):
    path = tmp_path / "notes.dat"
    path.write_text("just some words\n")
    assert "cannot tell the format" in _error(path)
    X, y, _, _ = cancer
    path = tmp_path / "cancer.svm"
    dump_svmlight_file(X[:5], y[:5], str(path))
    assert "first field" in _error(path, target="y")


# --------------------------------------------------------------------------
# The fixed 20newsgroups split


def test_news20_split(news20):
    X_train, y_train, X_val, y_val, X_test, y_test = news20
    assert X_train.shape == (11314, 130108)
    assert X_val.shape == (3766, 130108) and X_test.shape == (3766, 130108)
    for X, y in [(X_train, y_train), (X_val, y_val), (X_test, y_test)]:
        assert sp.isspmatrix_csr(X) and X.dtype == np.float64
        assert y.shape == (X.shape[0],)
        assert set(np.unique(y)) == {-1, 1}
    # Rows are L2-normalised.
    norms = np.sqrt(np.asarray(X_val.multiply(X_val).sum(axis=1))).ravel()
    assert_allclose(norms[norms > 0], 1.0)
    n_pos = sum(int((y == 1).sum()) for y in (y_train, y_val, y_test))
    assert n_pos == 9201


# --------------------------------------------------------------------------
# The fixed a9a split


def test_a9a_split(require_data):
    from hoag.datasets import a9a_split

    require_data("a9a.svm.bz2")
    parts = a9a_split()
    X_train, y_train, X_val, y_val, X_test, y_test = parts
    # The published sizes: 32,561 rows, 123 columns, 7,841 positive labels.
    assert [X.shape for X in parts[::2]] == [(16280, 123), (8140, 123), (8141, 123)]
    for X, y in zip(parts[::2], parts[1::2]):
        assert sp.isspmatrix_csr(X) and X.dtype == np.float64
        assert set(np.unique(y)) == {-1, 1}
        # Stratified: each part holds the overall share of positives, 24.1 %.
        assert abs((y == 1).mean() - 7841 / 32561) < 1e-3
    assert sum(int((y == 1).sum()) for y in parts[1::2]) == 7841
    # a9a's features are 0/1 indicators.
    assert set(np.unique(X_train.data)) == {1.0}

    # The same seed gives the same split, another seed another one.
    again = a9a_split(seed=0)
    assert all((a != b).nnz == 0 for a, b in zip(parts[::2], again[::2]))
    other = a9a_split(seed=1)
    assert (other[0] != X_train).nnz > 0
