"""Pickling of HOAG problems by their constructor's arguments.

The compiled objects a problem holds (kernels, L-BFGS memory) do not pickle;
a problem sent to another process (a joblib or Dask worker solving a fold) is
rebuilt there from the arrays it was made of. Caches that depend on ``lam``
are recomputed on first use; the L-BFGS curvature memory starts empty.
"""

__all__ = ["RebuiltOnUnpickle", "constructor_arguments"]


def constructor_arguments(frame_locals):
    """The arguments of an ``__init__`` from its ``locals()`` at entry."""
    arguments = dict(frame_locals)
    arguments.pop("self", None)
    arguments.pop("__class__", None)
    return arguments


def _rebuild(cls, arguments):
    """Unpickling: a new problem built from the same arguments."""
    return cls(**arguments)


class RebuiltOnUnpickle:
    """Mixin: pickle as ``(class, constructor arguments)``.

    Subclasses set ``self._arguments = constructor_arguments(locals())`` first
    thing in ``__init__``.
    """

    def __reduce__(self):
        return _rebuild, (type(self), self._arguments)
