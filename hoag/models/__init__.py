"""Models: the oracles of HOAG.md for each inner problem, on the compiled core."""

from .logistic import LogisticProblem
from .multinomial import MultinomialProblem

__all__ = ["LogisticProblem", "MultinomialProblem"]
