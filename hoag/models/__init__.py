"""Models: the oracles of HOAG.md for each inner problem, on the compiled core."""

from .kernel_ridge import KernelRidgeProblem
from .logistic import LogisticProblem

__all__ = ["KernelRidgeProblem", "LogisticProblem"]
