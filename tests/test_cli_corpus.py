"""The command line on a corpus of broken files, and a fuzz test seeded by it.

Every file of ``tests/corpus/cli`` (written by its ``make_corpus.py``) is broken
in one way; ``hoag tune FILE`` must end with one line on stderr naming the file
and the problem, exit status 2 and no traceback.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_cli import CORPUS, SUFFIXES, check_input, corpus_files, suffix_of
from hoag.cli import main

# File -> text the message must hold (the file's name is checked for all).
EXPECTED = {
    "blank_lines.csv": "no CSV header",
    "corrupt.svm.gz": "not valid svmlight: Error -3",
    "csv_continuous_target.csv": "continuous",
    "csv_header_only.csv": "no data rows",
    "csv_missing_feature.csv": "line 10: column 'b' holds ''",
    "csv_missing_target.csv": "line 10: the target column 'target' is empty",
    "csv_nan.csv": "NaN in sample 8 (counting from 0), feature 0",
    "csv_no_header.csv": "line 1: the first row holds only numbers",
    "csv_one_class.csv": "single class ('x')",
    "csv_one_column.csv": "needs at least one feature column",
    "csv_overflow.csv": "infinity in sample 8 (counting from 0), feature 0",
    "csv_short_row.csv": "line 10: 2 field(s), the header has 3",
    "csv_text_feature.csv": "line 10: column 'b' holds 'four'",
    "csv_unclosed_quote.csv": "line 2: 1 field(s)",
    "empty.svm": "is empty",
    "fuzz_npz_unsupported_compression.npz": "compression method",
    "garbage.dat": "cannot read the file",
    "not_bz2.svm.bz2": "Invalid data stream",
    "not_gzip.csv.gz": "Not a gzipped file",
    "not_zip.npz": "not a zip file",
    "npz_1d_features.npz": "X has shape (8,); expected 2 dimensions",
    "npz_2d_labels.npz": "y has shape (8, 1)",
    "npz_complex_features.npz": "complex values",
    "npz_csr_bad_indptr.npz": "indptr must be a non-decreasing",
    "npz_csr_index_out_of_range.npz": "indices must be < 2",
    "npz_length_mismatch.npz": "y has shape (9,); expected (8,)",
    "npz_no_arrays.npz": "expected arrays X and y",
    "npz_no_columns.npz": "0 feature(s)",
    "npz_no_labels.npz": "no label array 'y'",
    "npz_no_rows.npz": "holds no samples",
    "npz_object_features.npz": "allow_pickle=False",
    "npz_text_features.npz": "could not convert string to float",
    "svm_bad_label.svm": "line 9: not valid svmlight",
    "svm_bad_value.svm": "line 9: not valid svmlight",
    "svm_huge_index.svm": "line 9: not valid svmlight",
    "svm_index_beyond_int.svm": "line 9: not valid svmlight",
    "svm_inf.svm": "infinity in sample 8 (counting from 0), feature 1",
    "svm_nan.svm": "NaN in sample 8 (counting from 0), feature 0",
    "svm_negative_index.svm": "line 9: not valid svmlight",
    "svm_no_features.svm": "no line holds a feature",
    "svm_one_class.svm": "single class (1.0)",
    "svm_two_colons.svm": "line 9: not valid svmlight",
    "svm_unsorted.svm": "line 9: not valid svmlight",
    "truncated.csv.gz": "ended before the end-of-stream marker",
    "truncated.svm.bz2": "ended before the end-of-stream marker",
    "unknown_format.dat": "cannot tell the format",
}


def test_the_table_covers_the_corpus():
    assert sorted(EXPECTED) == [p.name for p in corpus_files()]


def _one_line_error(err, name, expected):
    assert err.count("\n") == 1, err
    assert err.startswith("hoag: error: ")
    assert name in err
    assert expected.lower() in err.lower()
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file(capsys, monkeypatch, name):
    # Relative to the corpus folder: the message names the file as given.
    monkeypatch.chdir(CORPUS)
    code = main(["tune", name, "--max-iter", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    _one_line_error(err, name, EXPECTED[name])


@pytest.mark.parametrize("name", ["directory", "missing.csv"])
def test_not_a_file(capsys, tmp_path, name):
    path = tmp_path if name == "directory" else tmp_path / name
    code = main(["tune", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    expected = "is a directory" if name == "directory" else "no such file"
    _one_line_error(err, str(path), expected)


def test_console_script_on_a_broken_file():
    script = Path(sys.executable).with_name("hoag")
    if not script.is_file():
        pytest.fail(f"the console script {script} is not installed")
    done = subprocess.run(
        [str(script), "tune", "csv_missing_target.csv"], cwd=CORPUS,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    _one_line_error(done.stderr, "csv_missing_target.csv",
                    EXPECTED["csv_missing_target.csv"])


# --------------------------------------------------------------------------
# Fuzzing: mutations of the corpus files (atheris runs the same check in CI)


def _mutate(content, seed, n_edits):
    """``content`` after ``n_edits`` random byte edits, insertions, deletions."""
    rng = random.Random(seed)
    data = bytearray(content)
    for _ in range(n_edits):
        position = rng.randrange(len(data) + 1)
        kind = rng.randrange(5)
        if kind == 0 and position < len(data):
            data[position] = rng.randrange(256)
        elif kind == 1:
            data[position:position] = rng.choice(
                [b":", b",", b"\n", b" ", b"-", b"0", b"9" * 12, b"nan", b"e999",
                 b"\x00", b"\xff", b'"', b"#"])
        elif kind == 2:
            del data[position:position + rng.randrange(1, 8)]
        elif kind == 3:
            data = data[:position]
        else:
            data[position:position] = data[rng.randrange(len(data) + 1):][:16]
    return bytes(data)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(0, 10**6),
    seed=st.integers(0, 2**32 - 1),
    n_edits=st.integers(1, 6),
    other_suffix=st.booleans(),
)
def test_mutated_corpus_is_read_or_refused_cleanly(tmp_path, index, seed, n_edits,
                                                   other_suffix):
    files = corpus_files()
    path = files[index % len(files)]
    suffix = suffix_of(path)
    if other_suffix:
        suffix = SUFFIXES[seed % len(SUFFIXES)]
    check_input(_mutate(path.read_bytes(), seed, n_edits), suffix, tmp_path,
                model=("logistic", "krr")[seed % 2])


def test_svmlight_file_for_kernel_ridge_is_densified(capsys, tmp_path):
    # A sparse file for a model on dense rows: the same run as the same values
    # written as CSV (it used to end with a TypeError traceback).
    rows = [(i * 0.37 % 1.3, (3 * i) % 5 * 0.5, (i % 7) * 0.2) for i in range(30)]
    (tmp_path / "r.svm").write_text("".join(
        f"{t!r} 1:{a!r} 2:{b!r}\n" for a, b, t in rows))
    (tmp_path / "r.csv").write_text("a,b,target\n" + "".join(
        f"{a!r},{b!r},{t!r}\n" for a, b, t in rows))
    chosen = []
    for name in ("r.svm", "r.csv"):
        code = main(["tune", str(tmp_path / name), "--model", "krr", "--quiet",
                     "--max-iter", "3", "--json", str(tmp_path / f"{name}.json")])
        assert code == 0, capsys.readouterr().err
        result = json.loads((tmp_path / f"{name}.json").read_text())["result"]
        chosen.append((result["gamma"], result["alpha"]))
    capsys.readouterr()
    assert chosen[0] == pytest.approx(chosen[1], rel=1e-10)
