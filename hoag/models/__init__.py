"""Models: the oracles of HOAG.md for each inner problem, on the compiled core."""

from .kernel_ridge import KernelRidgeProblem
from .logistic import LogisticProblem
from .multinomial import MultinomialProblem

__all__ = ["KernelRidgeProblem", "LogisticProblem", "MultinomialProblem"]
