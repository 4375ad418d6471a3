"""Tests of the ``hoag`` command line, run in-process through ``main``.

Every data file is written in ``tmp_path`` from the real bundled breast cancer
data; a run on a file must choose the same C as the same data in memory.
"""

import bz2
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_breast_cancer
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split

from hoag.cli import main, tune
from hoag.datasets import load_breast_cancer_standardised

# Few outer iterations keep every run well under a second.
MAX_ITER = "8"

TRACE_KEYS = {
    "iteration", "lam", "value", "grad_norm", "proj_grad_norm", "eps",
    "inner_iter", "linear_iter", "accepted", "reason", "time",
}


@pytest.fixture(scope="module")
def cancer():
    """Standardised breast cancer data rounded to 10 significant digits.

    Rounded so that svmlight's 16-digit text reads back the same floats.
    """
    X, y = load_breast_cancer_standardised()
    X = np.array([[float(f"{v:.10g}") for v in row] for row in X])
    labels = load_breast_cancer().target_names[y]
    return X, y, labels


def _run(capsys, *args):
    code = main(["tune", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _chosen_C(path):
    with open(path) as f:
        return json.load(f)["result"]["C"]


# Runs stopped by MAX_ITER warn; the CLI's own runs show it as a line instead.
not_converged = pytest.mark.filterwarnings(
    "ignore:HOAG stopped before convergence:sklearn.exceptions.ConvergenceWarning"
)


def _in_memory_C(X, y):
    return tune(X, y, max_iter=int(MAX_ITER)).estimator.C_


# --------------------------------------------------------------------------
# Successful runs


def test_default_run_on_breast_cancer(capsys):
    code, out, err = _run(capsys, "--max-iter", MAX_ITER)
    assert code == 0
    assert "breast cancer" in out
    for label in ("chosen C:", "validation loss:", "test:", "wall time:", "work:"):
        assert label in out
    assert "inner L-BFGS iterations" in out and "CG iterations" in out
    # One progress line per outer iteration, on stderr.
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "it=" in line]) >= 1


@not_converged
def test_default_run_matches_a_direct_fit(capsys, tmp_path):
    from hoag import LogisticRegressionCV

    code, _, _ = _run(capsys, "--max-iter", MAX_ITER, "--quiet",
                      "--json", tmp_path / "run.json")
    assert code == 0

    # The same protocol by hand: stratified test part, then a validation part.
    X, y = load_breast_cancer_standardised()
    rest, _ = train_test_split(
        np.arange(y.size), test_size=0.2, stratify=y, random_state=0
    )
    rest = np.sort(rest)
    pair = next(
        StratifiedShuffleSplit(1, test_size=0.25, random_state=0).split(
            X[rest], y[rest]
        )
    )
    est = LogisticRegressionCV(cv=[pair], max_iter=int(MAX_ITER), random_state=0)
    est.fit(X[rest], y[rest])
    assert _chosen_C(tmp_path / "run.json") == pytest.approx(est.C_, rel=1e-12)


def _write_svmlight(path, X, y):
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "wb") as f:
        dump_svmlight_file(X, y, f)


def _write_csv(path, X, labels, header):
    # The target first, so that only --target finds it.
    with open(path, "w", newline="") as f:
        f.write(",".join(["diagnosis"] + header) + "\n")
        for row, label in zip(X, labels):
            f.write(",".join([str(label)] + [repr(float(v)) for v in row]) + "\n")


@not_converged
@pytest.mark.parametrize(
    "name", ["cancer.svm", "cancer.svm.bz2", "cancer.csv", "cancer.npz"]
)
def test_file_run_matches_in_memory_run(capsys, tmp_path, cancer, name):
    X, y, labels = cancer
    path = tmp_path / name
    extra = []
    if name.startswith("cancer.svm"):
        _write_svmlight(path, X, y)
        expected = _in_memory_C(X, y)
        # The file gives a CSR matrix: the sparse kernels round differently.
        rel = 1e-6
    elif name == "cancer.csv":
        _write_csv(path, X, labels, [f"f{j}" for j in range(X.shape[1])])
        extra = ["--target", "diagnosis"]
        expected = _in_memory_C(X, labels)
        rel = 1e-12
    else:
        np.savez(path, X=X, y=y)
        expected = _in_memory_C(X, y)
        rel = 1e-12

    out_json = tmp_path / "run.json"
    code, out, err = _run(capsys, path, *extra, "--max-iter", MAX_ITER,
                          "--json", out_json)
    assert code == 0, err
    assert "chosen C:" in out
    assert _chosen_C(out_json) == pytest.approx(expected, rel=rel)
    if name == "cancer.csv":
        with open(out_json) as f:
            assert json.load(f)["data"]["classes"] == ["benign", "malignant"]


def test_json_holds_result_and_whole_trace(capsys, tmp_path):
    path = tmp_path / "run.json"
    code, _, _ = _run(capsys, "--max-iter", MAX_ITER, "--quiet", "--json", path)
    assert code == 0

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    with open(path) as f:
        report = json.load(f, parse_constant=refuse)
    result, trace = report["result"], report["trace"]
    for key in ("C", "validation_loss", "test_accuracy", "test_log_loss",
                "wall_time", "n_iter", "n_inner_iter", "n_linear_iter",
                "n_rejected", "converged", "message"):
        assert key in result
    assert 0 < result["C"] and 0.5 < result["test_accuracy"] <= 1
    # Every iteration, then up to two final re-solves (the run stops at max_iter).
    assert 1 <= result["n_iter"] <= len(trace) <= result["n_iter"] + 2
    assert TRACE_KEYS <= set(trace[0])
    assert math.isclose(trace[0]["C"][0], math.exp(-trace[0]["lam"][0]))
    assert report["data"]["n_samples"] == 569
    assert report["data"]["n_test"] == 114
    assert report["options"]["max_iter"] == int(MAX_ITER)


def test_folds_and_options(capsys, tmp_path):
    path = tmp_path / "run.json"
    code, out, err = _run(
        capsys, "--folds", "3", "--test-fraction", "0.3", "--schedule", "cubic",
        "--C0", "0.5", "--tol", "1e-3", "--seed", "3", "--max-iter", MAX_ITER,
        "--quiet", "--json", path,
    )
    assert code == 0, err
    assert "3 stratified folds" in out
    assert not [line for line in err.splitlines() if "it=" in line]
    with open(path) as f:
        report = json.load(f)
    assert report["options"]["folds"] == 3
    assert report["data"]["n_test"] == 171


def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    path = tmp_path / "trace.png"
    code, _, err = _run(capsys, "--max-iter", MAX_ITER, "--quiet", "--plot", path)
    assert code == 0, err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(capsys, tmp_path, monkeypatch):
    # A None entry makes `import matplotlib` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = _run(capsys, "--plot", tmp_path / "trace.png")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hoag: error: --plot:")
    assert "matplotlib" in err
    assert not (tmp_path / "trace.png").exists()


def test_warnings_are_one_line_each(capsys):
    code, _, err = _run(capsys, "--max-iter", "1", "--quiet")
    assert code == 0
    lines = err.splitlines()
    assert lines, "one outer iteration cannot meet the convergence test"
    for line in lines:
        assert line.startswith("hoag: warning: ") and line.endswith("]")
    assert "warnings.warn" not in err


# --------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 2, no traceback


def _bad_files(tmp_path, X, y):
    """name -> (path, extra args, text expected in the message)."""
    cases = {}
    cases["missing"] = (tmp_path / "missing.csv", [], "no such file")
    cases["directory"] = (tmp_path, [], "is a directory")
    (tmp_path / "empty.svm").write_bytes(b"")
    cases["empty file"] = (tmp_path / "empty.svm", [], "is empty")

    bad = tmp_path / "bad.svm"
    bad.write_text("1 1:0.5 2:1\n0 1:0.25 2:x\n")
    cases["malformed svmlight"] = (bad, [], "line 2")

    header = "a,b,label\n"
    (tmp_path / "text.csv").write_text(header + "1,2,0\n3,four,1\n")
    cases["non-numeric feature"] = (tmp_path / "text.csv", [], "'b'")
    (tmp_path / "header.csv").write_text(header)
    cases["no data rows"] = (tmp_path / "header.csv", [], "no data rows")

    X = X.tolist()
    rows = "".join(f"{X[i][0]!r},{X[i][1]!r},{y[i]}\n" for i in range(60))
    (tmp_path / "nan.csv").write_text(header + "nan,1,0\n" + rows)
    cases["NaN in X"] = (tmp_path / "nan.csv", [], "NaN")
    np.savez(tmp_path / "inf.npz", X=np.vstack([X[:60], [np.inf] * len(X[0])]),
             y=np.append(y[:60], 1))
    cases["inf in X"] = (tmp_path / "inf.npz", [], "infinity")
    one = "".join(f"{X[i][0]!r},{X[i][1]!r},1\n" for i in range(60))
    (tmp_path / "one.csv").write_text(header + one)
    cases["single class"] = (tmp_path / "one.csv", [], "single class")
    (tmp_path / "ok.csv").write_text(header + rows)
    cases["unknown target"] = (tmp_path / "ok.csv", ["--target", "y"], "'y'")
    return cases


BAD_FILES = [
    "missing", "directory", "empty file", "malformed svmlight",
    "non-numeric feature", "no data rows", "NaN in X", "inf in X",
    "single class", "unknown target",
]


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file(capsys, tmp_path, cancer, case):
    X, y, _ = cancer
    path, extra, expected = _bad_files(tmp_path, X, y)[case]
    code, out, err = _run(capsys, path, *extra, "--max-iter", MAX_ITER)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("hoag: error: ")
    assert expected.lower() in err.lower()
    assert "Traceback" not in err


BAD_OPTIONS = [
    ["--validation-fraction", "1.5"],
    ["--validation-fraction", "0"],
    ["--test-fraction", "-0.1"],
    ["--folds", "1"],
    ["--folds", "3", "--validation-fraction", "0.3"],
    ["--max-iter", "0"],
    ["--C0", "-1"],
    ["--C0", "inf"],
    ["--tol", "abc"],
    ["--seed", "-4"],
    ["--schedule", "linear"],
    ["--model", "svm"],
    ["--target", "label"],
    ["--json", "/no/such/folder/run.json"],
    ["--no-such-option"],
]


@pytest.mark.parametrize("args", BAD_OPTIONS, ids=" ".join)
def test_bad_option(capsys, args):
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("hoag: error: ")
    assert "Traceback" not in err


def test_no_command(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hoag: error: ")


def test_help_exits_zero(capsys):
    assert main(["tune", "--help"]) == 0
    assert "--validation-fraction" in capsys.readouterr().out


# --------------------------------------------------------------------------
# The installed console script


def _script():
    script = Path(sys.executable).with_name("hoag")
    if not script.is_file():
        pytest.fail(f"the console script {script} is not installed")
    return str(script)


def test_installed_entry_point(tmp_path):
    done = subprocess.run(
        [_script(), "tune", "--max-iter", MAX_ITER, "--json", tmp_path / "r.json"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "chosen C:" in done.stdout
    assert "it=" in done.stderr
    assert _chosen_C(tmp_path / "r.json") > 0

    done = subprocess.run(
        [_script(), "tune", tmp_path / "missing.svm"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_interrupted_tune_prints_the_best_point_and_exits_130(capsys, monkeypatch):
    from hoag.models.logistic import LogisticProblem

    original = LogisticProblem.inner_solve
    calls = {"n": 0}

    def inner_solve(self, lam, x0, tol):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, lam, x0, tol)

    monkeypatch.setattr(LogisticProblem, "inner_solve", inner_solve)
    code, out, err = _run(capsys, "--max-iter", MAX_ITER)
    assert code == 130
    assert "chosen C:" in out
    assert "interrupted by KeyboardInterrupt after 3 iterations" in err
