"""``hoag tune --penalty-groups``: multiclass files, per-pixel penalties, image plot."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from hoag.cli import main
from hoag.penalty_plot import image_shape


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    X, y = load_digits(return_X_y=True)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, X=X[:600] / 16.0, y=y[:600])
    return path


@pytest.mark.parametrize("groups, n_penalties", [("none", 1), ("features", 64),
                                                 ("coefficients", 640)])
def test_penalty_groups_run_and_report(digits_file, tmp_path, capsys, groups,
                                       n_penalties):
    report, png = tmp_path / "run.json", tmp_path / "run.png"
    code = main(["tune", str(digits_file), "--penalty-groups", groups,
                 "--max-iter", "4", "--quiet", "--json", str(report),
                 "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(report.read_text())["result"]
    assert result["n_penalties"] == n_penalties
    assert np.size(result["C"]) == n_penalties
    assert result["C_min"] <= result["C_max"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if n_penalties > 1:
        assert f"{n_penalties} penalties from" in out
    assert 0.5 < result["test_accuracy"] <= 1


def test_bad_penalty_groups_is_one_line_error(digits_file, capsys):
    code = main(["tune", str(digits_file), "--penalty-groups", "pixels"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hoag: error:") and err.count("\n") == 1


def test_image_shape():
    assert image_shape(784) == (28, 28)
    assert image_shape(64) == (8, 8)
    assert image_shape(30) is None
    assert image_shape(1) is None
