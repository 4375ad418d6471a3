"""hoag: hyperparameter optimization with approximate gradient.

Tunes continuous hyperparameters by gradient descent on a validation loss, with
hypergradients computed from inexact inner solves (Pedregosa, ICML 2016).

- :func:`hoag` runs the outer loop on any problem with the oracle interface
  :class:`HOAGProblem` (documented in :mod:`hoag._outer`).
- :class:`LogisticRegressionCV` is a scikit-learn classifier tuning its C.
- :class:`LogisticProblem`, :class:`MultinomialProblem` and
  :class:`MeanOverFolds` are the problems it uses.
"""

from importlib.metadata import PackageNotFoundError, version

from ._cv import MeanOverFolds
from ._outer import (
    BoundaryWarning,
    HOAGProblem,
    HOAGResult,
    HyperparameterConvergenceWarning,
    SolveInfo,
    hoag,
)
from .estimators import LogisticRegressionCV
from .models import LogisticProblem, MultinomialProblem

try:
    __version__ = version("hoag")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BoundaryWarning",
    "HOAGProblem",
    "HOAGResult",
    "HyperparameterConvergenceWarning",
    "LogisticProblem",
    "LogisticRegressionCV",
    "MeanOverFolds",
    "MultinomialProblem",
    "SolveInfo",
    "hoag",
]
