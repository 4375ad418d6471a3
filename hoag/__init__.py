"""hoag: hyperparameter optimization with approximate gradient.

Tunes continuous hyperparameters by gradient descent on a validation loss, with
hypergradients computed from inexact inner solves (Pedregosa, ICML 2016).

- :func:`hoag` runs the outer loop on any problem with the oracle interface
  :class:`HOAGProblem` (documented in :mod:`hoag._outer`).
- :class:`LogisticRegressionCV` is a scikit-learn classifier tuning its C.
- :class:`KernelRidgeCV` is a scikit-learn regressor tuning the RBF width gamma
  and the ridge alpha of kernel ridge regression.
- :class:`LogisticProblem`, :class:`MultinomialProblem`,
  :class:`KernelRidgeProblem` and :class:`MeanOverFolds` are the problems they use.
"""

from importlib.metadata import PackageNotFoundError, version

from ._cv import MeanOverFolds
from ._outer import (
    BoundaryWarning,
    HOAGProblem,
    HOAGResult,
    HyperparameterConvergenceWarning,
    InterruptedWarning,
    SolveInfo,
    hoag,
)
from .estimators import KernelRidgeCV, LogisticRegressionCV
from .models import KernelRidgeProblem, LogisticProblem, MultinomialProblem

try:
    __version__ = version("hoag")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BoundaryWarning",
    "HOAGProblem",
    "HOAGResult",
    "HyperparameterConvergenceWarning",
    "InterruptedWarning",
    "KernelRidgeCV",
    "KernelRidgeProblem",
    "LogisticProblem",
    "LogisticRegressionCV",
    "MeanOverFolds",
    "MultinomialProblem",
    "SolveInfo",
    "hoag",
]
