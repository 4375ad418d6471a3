"""The ``hoag`` command line: tune a model's hyperparameters on a data file.

Usage::

    hoag tune [FILE] [--model logistic] [--target NAME]
              [--validation-fraction F | --folds K] [--test-fraction F]
              [--schedule {exponential,quadratic,cubic,exact}] [--max-iter N]
              [--max-time SECONDS] [--C0 C] [--tol TOL] [--seed SEED]
              [--penalty-groups {none,features,coefficients}]
              [--json PATH] [--plot PATH] [--quiet]

Without ``FILE`` the bundled breast cancer data of scikit-learn (standardised)
is used. The data are split into a stratified held-out test part and the rest;
the rest is split again into training and validation parts (or into K folds),
HOAG tunes C on the validation loss, and the refit model is scored on the test
part. Progress goes to stderr, the summary to stdout. Bad input ends with one
line ``hoag: error: ...`` on stderr and exit status 2.
"""

import argparse
import contextlib
import json
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MODELS", "TuneResult", "check_data", "main", "read_data", "tune"]

logger = logging.getLogger(__name__)

PROG = "hoag"
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SCHEDULES = ("exponential", "quadratic", "cubic", "exact")
BUNDLED_NAME = "breast cancer (scikit-learn, standardised)"
# The largest sparse file densified for a model on dense rows.
_MAX_DENSE_BYTES = 2**31


# --------------------------------------------------------------------------
# Models: what `--model` can name. A new model (kernel ridge next) adds an
# entry with its estimator, its target check and its test scores.


@dataclass(frozen=True)
class ModelSpec:
    """How the command line builds, checks and scores one kind of model.

    Parameters
    ----------
    name : str
        The value of ``--model``.
    description : str
        One line for ``--help``.
    make : callable
        ``make(**options) -> estimator``; ``options`` are the estimator's own
        keyword arguments (only those the user set, plus ``cv``,
        ``random_state`` and ``verbose``).
    check_target : callable
        ``check_target(y)`` raises ValueError for a target the model cannot fit.
    score : callable
        ``score(estimator, X_test, y_test) -> dict`` of test metrics.
    classifier : bool
        Whether the splits are stratified by the target.
    bundled : str
        The bundled dataset used without FILE (a key of BUNDLED_NAMES).
    start_options : tuple of str
        The options that set the starting hyperparameters.
    dense : bool
        Whether the model takes dense rows only (a sparse file is densified).
    """

    name: str
    description: str
    make: object
    check_target: object
    score: object
    classifier: bool = True
    bundled: str = "breast cancer"
    start_options: tuple = ("C0",)
    dense: bool = False


def _make_logistic(**options):
    from hoag import LogisticRegressionCV

    return LogisticRegressionCV(**options)


def _check_classes(y):
    from sklearn.utils.multiclass import check_classification_targets

    check_classification_targets(y)
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"the target has a single class ({classes.tolist()[0]!r}); "
            "a classifier needs at least two"
        )


def _score_classifier(estimator, X_test, y_test):
    from sklearn.metrics import accuracy_score, log_loss

    proba = estimator.predict_proba(X_test)
    predicted = estimator.classes_[np.argmax(proba, axis=1)]
    return {
        "test_accuracy": float(accuracy_score(y_test, predicted)),
        "test_log_loss": float(log_loss(y_test, proba, labels=estimator.classes_)),
    }


def _make_krr(**options):
    from hoag import KernelRidgeCV

    return KernelRidgeCV(**options)


def _check_regression_target(y):
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"kernel ridge needs a numeric target, got {y.dtype} values")
    if np.unique(y).size < 2:
        raise ValueError("the target is constant: nothing to regress")


def _score_regressor(estimator, X_test, y_test):
    from sklearn.metrics import mean_squared_error, r2_score

    predicted = estimator.predict(X_test)
    return {
        "test_mse": float(mean_squared_error(y_test, predicted)),
        "test_r2": float(r2_score(y_test, predicted)),
    }


MODELS = {
    "logistic": ModelSpec(
        name="logistic",
        description="l2-penalised logistic regression (softmax for more than "
        "two classes), tunes C",
        make=_make_logistic,
        check_target=_check_classes,
        score=_score_classifier,
    ),
    "krr": ModelSpec(
        name="krr",
        description="RBF kernel ridge regression, tunes gamma and alpha",
        make=_make_krr,
        check_target=_check_regression_target,
        score=_score_regressor,
        classifier=False,
        bundled="diabetes",
        start_options=("gamma0", "alpha0"),
        dense=True,
    ),
}
BUNDLED_NAMES = {
    "breast cancer": BUNDLED_NAME,
    "diabetes": "diabetes (scikit-learn, standardised)",
}


# --------------------------------------------------------------------------
# The tuning run, callable without the command line


@dataclass
class TuneResult:
    """Outcome of :func:`tune`.

    Attributes
    ----------
    estimator : object
        The fitted estimator (refit on training plus validation parts).
    n_train, n_validation : int
        Sizes of the training and validation parts (with k folds: the sizes
        of the first fold's parts).
    n_test : int
        Size of the held-out test part (0 without one).
    folds : int or None
        The number of folds, or None for one hold-out validation part.
    scores : dict of str to float
        Test metrics (empty without a test part).
    wall_time : float
        Seconds spent in ``fit``, including the final refit.
    """

    estimator: object
    n_train: int
    n_validation: int
    n_test: int
    folds: object
    scores: dict = field(default_factory=dict)
    wall_time: float = 0.0


def tune(
    X,
    y,
    *,
    model="logistic",
    validation_fraction=0.25,
    folds=None,
    test_fraction=0.2,
    seed=0,
    verbose=0,
    **estimator_options,
):
    """Split the data, tune the model's hyperparameters, score on a test part.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Features; must be finite.
    y : array-like of shape (n_samples,)
        Target (any labels for a classifier).
    model : str, default="logistic"
        A key of :data:`MODELS`.
    validation_fraction : float, default=0.25
        Fraction of the non-test part held out for validation (one stratified
        split, seeded by ``seed``). Ignored when ``folds`` is given.
    folds : int, optional
        Use ``folds`` stratified folds of the non-test part instead.
    test_fraction : float, default=0.2
        Fraction of all samples held out (stratified) for the final test
        scores; 0 means no test part.
    seed : int, default=0
        Seed of every split and of the estimator.
    verbose : int, default=0
        The estimator's ``verbose``: 1 logs one line per outer iteration.
    **estimator_options
        Keyword arguments of the estimator (``C0``, ``tol``, ``max_iter``,
        ``max_time``, ``schedule``, ...); None values are left out so that
        the estimator's own defaults apply.

    Returns
    -------
    TuneResult

    Raises
    ------
    ValueError
        For bad data (empty, NaN or inf, a single class, inconsistent
        lengths) or option values.
    """
    from sklearn.model_selection import (
        ShuffleSplit,
        StratifiedShuffleSplit,
        train_test_split,
    )
    spec = MODELS[model]
    X, y = check_data(X, y, model)
    stratify = y if spec.classifier else None

    # 1. The held-out test part, never seen while tuning.
    rows = np.arange(X.shape[0])
    if test_fraction > 0:
        rest, test = train_test_split(
            rows, test_size=test_fraction, stratify=stratify, random_state=seed
        )
        rest, test = np.sort(rest), np.sort(test)
    else:
        rest, test = rows, rows[:0]
    X_rest, y_rest = X[rest], y[rest]

    # 2. Validation: one stratified hold-out pair, or k folds (the estimator's).
    if folds is not None:
        cv = int(folds)
        n_validation = X_rest.shape[0] // cv
        n_train = X_rest.shape[0] - n_validation
    else:
        shuffle_split = StratifiedShuffleSplit if spec.classifier else ShuffleSplit
        splitter = shuffle_split(
            n_splits=1, test_size=validation_fraction, random_state=seed
        )
        train, validation = next(splitter.split(X_rest, y_rest))
        cv = [(train, validation)]
        n_train, n_validation = train.size, validation.size

    options = {k: v for k, v in estimator_options.items() if v is not None}
    estimator = spec.make(cv=cv, random_state=seed, verbose=verbose, **options)
    start = time.perf_counter()
    estimator.fit(X_rest, y_rest)
    wall_time = time.perf_counter() - start

    scores = spec.score(estimator, X[test], y[test]) if test.size else {}
    return TuneResult(
        estimator=estimator,
        n_train=int(n_train),
        n_validation=int(n_validation),
        n_test=int(test.size),
        folds=folds,
        scores=scores,
        wall_time=wall_time,
    )


def check_data(X, y, model="logistic"):
    """The checks :func:`tune` makes before any fitting.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    model : str, default="logistic"
        A key of :data:`MODELS`, whose target check applies.

    Returns
    -------
    X : ndarray or CSR matrix, float64
    y : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        For empty data, mismatched lengths, a NaN or infinite feature (named
        by sample and feature), a target the model cannot fit, or sparse data
        too large to densify for a model on dense rows.
    """
    from sklearn.utils import check_X_y

    X, y = check_X_y(X, y, accept_sparse="csr", dtype=np.float64,
                     ensure_all_finite=False)
    _check_finite(X)
    spec = MODELS[model]
    spec.check_target(y)
    if spec.dense and hasattr(X, "tocsr"):
        # A svmlight file read for a model on dense rows (the RBF kernels).
        size = X.shape[0] * X.shape[1] * X.dtype.itemsize
        if size > _MAX_DENSE_BYTES:
            raise ValueError(
                f"--model {model} needs dense rows; this sparse data, "
                f"{X.shape[0]} x {X.shape[1]}, would take {size / 2**30:.1f} GiB "
                f"(at most {_MAX_DENSE_BYTES / 2**30:.0f} GiB)"
            )
        X = X.toarray()
    return X, y


def read_data(path, model="logistic", target=None):
    """Read a data file and check it as ``hoag tune FILE`` does, without fitting.

    Parameters
    ----------
    path : str or path-like
        The file, in a format of :func:`hoag.datasets.load_file`.
    model : str, default="logistic"
        A key of :data:`MODELS`.
    target : str, optional
        The target column (CSV) or label array (.npz).

    Returns
    -------
    X : ndarray or CSR matrix, float64
    y : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError or OSError
        For any file the command line refuses (then one line and exit status 2).
    """
    from hoag.datasets import load_file

    X, y, _ = load_file(path, target=target)
    return check_data(X, y, model)


def _check_finite(X):
    """Raise ValueError naming the first sample and feature that is NaN or inf."""
    values = X.data if hasattr(X, "tocsr") else X
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    if hasattr(X, "tocsr"):
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(X.indptr, k, side="right")) - 1
        column, value = int(X.indices[k]), X.data[k]
    else:
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = X[row, column]
    name = "NaN" if np.isnan(value) else ("infinity" if value > 0 else "-infinity")
    raise ValueError(
        f"X contains {name} in sample {row} (counting from 0), feature "
        f"{column} ({int(bad.sum())} non-finite value(s) in all); every feature "
        "must be a finite number"
    )


# --------------------------------------------------------------------------
# Command-line parsing


class _UsageError(Exception):
    """A bad command line; shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not usage plus traceback."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _fraction(low_closed):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        low_ok = value >= 0 if low_closed else value > 0
        if not (low_ok and value < 1):
            bounds = "[0, 1)" if low_closed else "(0, 1)"
            raise argparse.ArgumentTypeError(f"must be in {bounds}, got {text!r}")
        return value

    return parse


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text!r}")
        return value

    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _output_path(text):
    # Checked before the run, so that a typo does not waste a long fit.
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {str(parent)!r} does not exist")
    return path


def build_parser():
    """The argument parser of the ``hoag`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = _Parser(
        prog=PROG,
        description="Tune continuous hyperparameters by gradient descent on the "
        "validation loss (HOAG, Pedregosa 2016).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser(
        "tune",
        help="tune a model's hyperparameters on a data file",
        description="Tune the model's hyperparameters on FILE (svmlight/LIBSVM, "
        "CSV with a header row, or .npz; text formats may be .gz or .bz2). "
        "Without FILE: the bundled breast cancer data, standardised. A "
        "stratified test part is held out; the rest is split into training "
        "and validation parts (or K folds).",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="the data file")
    p.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="logistic",
        help="model to tune: "
        + "; ".join(f"{m.name}: {m.description}" for m in MODELS.values()),
    )
    p.add_argument(
        "--target",
        metavar="NAME",
        help="CSV: the target column (default: 'target' if present, else the "
        "last column); .npz: the label array",
    )
    split = p.add_mutually_exclusive_group()
    split.add_argument(
        "--validation-fraction",
        type=_fraction(low_closed=False),
        default=0.25,
        metavar="F",
        help="fraction of the non-test part used for validation (default 0.25)",
    )
    split.add_argument(
        "--folds",
        type=_int_at_least(2),
        metavar="K",
        help="use K stratified folds of the non-test part instead",
    )
    p.add_argument(
        "--test-fraction",
        type=_fraction(low_closed=True),
        default=0.2,
        metavar="F",
        help="fraction held out for the test scores (default 0.2; 0: none)",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="tolerance schedule of the inner solves (estimator default: "
        "exponential)",
    )
    p.add_argument(
        "--max-iter", type=_int_at_least(1), metavar="N", help="outer iterations"
    )
    p.add_argument(
        "--max-time",
        type=_positive_float,
        metavar="SECONDS",
        help="wall-clock budget of the outer loop",
    )
    p.add_argument(
        "--C0", type=_positive_float, metavar="C", help="starting value of C"
    )
    p.add_argument(
        "--gamma0", type=_positive_float, metavar="G",
        help="krr: starting RBF gamma (default 1 / n_features)",
    )
    p.add_argument(
        "--alpha0", type=_positive_float, metavar="A",
        help="krr: starting ridge alpha (default 1)",
    )
    p.add_argument(
        "--tol", type=_positive_float, metavar="TOL", help="convergence tolerance"
    )
    p.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=0,
        help="seed of the splits and of the estimator (default 0)",
    )
    p.add_argument(
        "--penalty-groups",
        choices=("none", "features", "coefficients"),
        default="none",
        help="one C for all coefficients (none, the default), one per feature "
        "shared by the classes, or one per coefficient",
    )
    p.add_argument(
        "--json",
        type=_output_path,
        metavar="PATH",
        help="write the options, the result and the whole trace as JSON",
    )
    p.add_argument(
        "--plot",
        type=_output_path,
        metavar="PATH",
        help="write a PNG of validation loss and C against time; with "
        "--penalty-groups, of the loss and the learned penalties, drawn as an "
        "image for square images such as MNIST (needs matplotlib)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines (the summary and warnings still show)",
    )
    p.set_defaults(run=_run_tune)
    return parser


# --------------------------------------------------------------------------
# Running a command


def main(argv=None):
    """Run the ``hoag`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad input or options, 130 when
        interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    with _warnings_as_lines(), _progress_to_stderr(not args.quiet):
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def _error(message):
    # One line, whatever the message (scikit-learn's may span several).
    text = " ".join(str(message).split())
    print(f"{PROG}: error: {text}", file=sys.stderr)


def _run_tune(args):
    from hoag import plotting

    # Fail before the fit when the figure could not be drawn anyway.
    if args.plot is not None:
        try:
            plotting._pyplot()
        except ImportError as exc:
            _error(f"--plot: {exc}")
            return EXIT_BAD_INPUT
    if args.target is not None and args.file is None:
        _error("--target needs a FILE (the bundled data have their target)")
        return EXIT_BAD_INPUT
    spec = MODELS[args.model]
    for option in ("C0", "gamma0", "alpha0"):
        if getattr(args, option) is not None and option not in spec.start_options:
            _error(f"--{option} does not apply to --model {args.model} (its "
                   f"options: {', '.join('--' + o for o in spec.start_options)})")
            return EXIT_BAD_INPUT
    if args.penalty_groups != "none" and args.model != "logistic":
        _error(f"--penalty-groups applies to --model logistic, not --model "
               f"{args.model}")
        return EXIT_BAD_INPUT
    if args.plot is not None and not spec.classifier:
        _error(f"--plot draws C against time; it does not support --model "
               f"{args.model} in this version")
        return EXIT_BAD_INPUT

    try:
        X, y, source = _load(args)
    except (ValueError, OSError) as exc:
        _error(exc)
        return EXIT_BAD_INPUT

    try:
        result = tune(
            X,
            y,
            model=args.model,
            validation_fraction=args.validation_fraction,
            folds=args.folds,
            test_fraction=args.test_fraction,
            seed=args.seed,
            verbose=0 if args.quiet else 1,
            **{option: getattr(args, option) for option in spec.start_options},
            tol=args.tol,
            max_iter=args.max_iter,
            max_time=args.max_time,
            schedule=args.schedule,
            penalty_groups=(None if args.penalty_groups == "none"
                            else args.penalty_groups),
        )
    except (ValueError, OSError) as exc:
        _error(f"{source}: {exc}")
        return EXIT_BAD_INPUT

    report = _report(args, source, X, result)
    print(_summary(report))
    try:
        if args.json is not None:
            _write_json(report, args.json)
            logger.info("wrote %s", args.json)
        if args.plot is not None and np.ndim(getattr(result.estimator, "C_", 0)) > 0:
            from hoag.penalty_plot import image_shape, plot_penalties

            plot_penalties(
                result.estimator.history_,
                result.estimator.C_,
                args.plot,
                title=f"HOAG on {source}",
                shape=image_shape(X.shape[1]),
            )
        elif args.plot is not None:
            plotting.plot_trace(
                result.estimator.history_,
                args.plot,
                title=f"HOAG on {source}",
                chosen_C=report["result"]["C"],
            )
    except (ValueError, OSError) as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    # Interrupted after a first point: the summary above is of the best point
    # found so far, and the status still says the run did not finish.
    return EXIT_INTERRUPTED if result.estimator.result_.interrupted else EXIT_OK


def _load(args):
    from hoag.datasets import (
        load_breast_cancer_standardised,
        load_diabetes_standardised,
        load_file,
    )

    if args.file is None:
        bundled = MODELS[args.model].bundled
        loader = {"breast cancer": load_breast_cancer_standardised,
                  "diabetes": load_diabetes_standardised}[bundled]
        X, y = loader()
        return X, y, BUNDLED_NAMES[bundled]
    X, y, _ = load_file(args.file, target=args.target)
    return X, y, args.file


def _report(args, source, X, result):
    """Everything about the run, as plain JSON-ready values."""
    est = result.estimator
    res = est.result_
    if hasattr(est, "C_"):
        C_array = np.asarray(est.C_, dtype=float)
        # Many penalties are summarised by their geometric mean.
        C = float(np.exp(np.mean(np.log(C_array))))
        chosen = {
            "C": C if C_array.ndim == 0 else _plain(C_array),
            "log10_C": math.log10(C),
            "n_penalties": int(C_array.size),
            "C_min": float(C_array.min()),
            "C_max": float(C_array.max()),
        }
    else:
        chosen = {"gamma": float(est.gamma_), "alpha": float(est.alpha_)}
    out = {
        "data": {
            "source": str(source),
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "sparse": bool(hasattr(X, "tocsr")),
            "classes": [_plain(c) for c in getattr(est, "classes_", [])],
            "n_train": result.n_train,
            "n_validation": result.n_validation,
            "n_test": result.n_test,
        },
        "options": {
            key: _plain(getattr(args, key))
            for key in (
                "model", "target", "validation_fraction", "folds",
                "test_fraction", "schedule", "max_iter", "max_time", "C0",
                "gamma0", "alpha0", "tol", "seed", "penalty_groups",
            )
        },
        "result": {
            **chosen,
            "validation_loss": float(est.validation_loss_),
            **result.scores,
            "wall_time": result.wall_time,
            "n_iter": int(res.n_iter),
            "n_inner_iter": int(res.n_inner_iter),
            "n_linear_iter": int(res.n_linear_iter),
            "n_rejected": int(res.n_rejected),
            "converged": bool(res.converged),
            "message": str(res.message),
        },
        "trace": [_trace_record(r, args.model) for r in est.history_],
    }
    if args.folds is not None:
        out["options"]["validation_fraction"] = None
    return out


def _trace_record(record, model="logistic"):
    out = {key: _plain(value) for key, value in record.items()}
    lam = np.atleast_1d(np.asarray(record["lam"], dtype=float))
    if model == "krr":
        out["gamma"], out["alpha"] = (float(v) for v in np.exp(lam))
    else:
        out["C"] = _plain(np.exp(-lam))
    return out


def _plain(value):
    """A JSON value: numpy scalars and arrays to Python, NaN and inf to None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _summary(report):
    d, r = report["data"], report["result"]
    # Regression splits are plain shuffles; classification splits stratified.
    kind = "stratified " if "C" in r else ""
    solver = "L-BFGS" if "C" in r else "CG"
    if report["options"]["folds"]:
        split = (
            f"{d['n_train'] + d['n_validation']} in "
            f"{report['options']['folds']} {kind}folds, {d['n_test']} test"
        )
    else:
        split = (
            f"{d['n_train']} train, {d['n_validation']} validation, "
            f"{d['n_test']} test ({'stratified, ' if kind else ''}seed "
            f"{report['options']['seed']})"
        )
    if "C" in r:
        chosen = _chosen_C(r)
    else:
        chosen = f"chosen:          gamma {r['gamma']:.6g}, alpha {r['alpha']:.6g}"
    lines = [
        f"data:            {d['source']}: {d['n_samples']} samples x "
        f"{d['n_features']} features",
        f"split:           {split}",
        chosen,
        f"validation loss: {r['validation_loss']:.6f}",
    ]
    if "test_accuracy" in r:
        lines.append(
            f"test:            accuracy {r['test_accuracy']:.4f}, "
            f"log loss {r['test_log_loss']:.6f}"
        )
    if "test_mse" in r:
        lines.append(
            f"test:            MSE {r['test_mse']:.6g}, R^2 {r['test_r2']:.4f}"
        )
    lines += [
        f"wall time:       {r['wall_time']:.3f} s",
        f"work:            {r['n_iter']} outer iterations ({r['n_rejected']} "
        f"rejected), {r['n_inner_iter']} inner {solver} iterations, "
        f"{r['n_linear_iter']} CG iterations",
        f"status:          {_status(r)}",
    ]
    return "\n".join(lines)


def _chosen_C(result):
    if result["n_penalties"] == 1:
        return (f"chosen C:        {result['C']:.6g}  "
                f"(log10 C = {result['log10_C']:.4f})")
    return (f"chosen C:        {result['n_penalties']} penalties from "
            f"{result['C_min']:.3g} to {result['C_max']:.3g} (geometric mean "
            f"{10 ** result['log10_C']:.3g})")


def _status(result):
    message = result["message"]
    if message.lower().startswith(("converged", "not converged")):
        return message
    return f"{'converged' if result['converged'] else 'not converged'}: {message}"


def _write_json(report, path):
    # allow_nan=False: the file must be strict JSON (NaN became null above).
    text = json.dumps(report, indent=1, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


@contextlib.contextmanager
def _warnings_as_lines():
    """Show each warning as one line on stderr, without the source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"{PROG}: warning: {text} [{category.__name__}]", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _progress_to_stderr(enabled):
    """Send the INFO records of the hoag loggers to stderr, message only."""
    if not enabled:
        yield
        return
    root = logging.getLogger("hoag")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    old_level, old_propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # The application's own root handlers would print every line twice.
    root.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.propagate = old_propagate


if __name__ == "__main__":
    sys.exit(main())
