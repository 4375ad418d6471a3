"""Fuzz the command line's file reading, seeded by the broken-file corpus.

The target is :func:`hoag.cli.read_data`, what ``hoag tune FILE`` runs before
fitting. On any input it must either return checked data (float64 features,
finite, one label per row) or raise ValueError or OSError, which the command
line turns into one line on stderr and exit status 2. Any other exception is a
bug. The first byte of an input picks the file name's suffix (and so the format
and the decompression), the rest is the file's content.

Run with atheris (libFuzzer) for a bounded time::

    python tests/fuzz_cli.py -max_total_time=60

:func:`check_input` is shared with the hypothesis version in
``tests/test_cli_corpus.py``.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

CORPUS = Path(__file__).resolve().parent / "corpus" / "cli"
SUFFIXES = (".svm", ".csv", ".npz", ".csv.gz", ".svm.gz", ".svm.bz2", ".dat",
            ".csv.bz2")
MODELS = ("logistic", "krr")


def corpus_files():
    """The corpus files (not the script that writes them), sorted by name."""
    return sorted(p for p in CORPUS.iterdir() if p.suffix != ".py")


def suffix_of(path):
    """The entry of SUFFIXES a corpus file's name ends with (.dat if none)."""
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ".dat"


def check_input(content, suffix, folder, model="logistic"):
    """Read ``content`` as a file ending in ``suffix``; fail on a wrong outcome.

    Parameters
    ----------
    content : bytes
        The file's content.
    suffix : str
        Its name's suffix, one of SUFFIXES.
    folder : pathlib.Path
        Where the file is written.
    model : str
        The model whose target check applies.

    Returns
    -------
    bool
        True if the file was read, False if it was refused cleanly.

    Raises
    ------
    AssertionError
        If data read without error break the promised properties; any
        exception other than ValueError and OSError passes through.
    """
    from hoag.cli import read_data

    path = folder / f"input{suffix}"
    path.write_bytes(content)
    try:
        X, y = read_data(path, model=model)
    except (ValueError, OSError):
        return False

    assert X.ndim == 2 and X.shape[0] >= 1 and X.shape[1] >= 1
    assert X.dtype == np.float64
    values = X.data if sp.issparse(X) else X
    assert np.isfinite(values).all()
    if sp.issparse(X):
        assert X.format == "csr"
        X.check_format(full_check=True)
    assert y.shape == (X.shape[0],)
    return True


def _seed_folder():
    """Seeds for libFuzzer: each corpus file behind its suffix byte."""
    folder = Path(tempfile.mkdtemp(prefix="hoag-fuzz-seeds-"))
    for k, path in enumerate(corpus_files()):
        prefix = bytes([SUFFIXES.index(suffix_of(path))])
        (folder / f"seed{k:03d}").write_bytes(prefix + path.read_bytes())
    return folder


def main(argv):
    """Run atheris on :func:`check_input` with the corpus as seeds."""
    import atheris

    with atheris.instrument_imports():
        import hoag.cli  # noqa: F401
        import hoag.datasets  # noqa: F401

    folder = Path(tempfile.mkdtemp(prefix="hoag-fuzz-files-"))

    def one_input(data):
        if not data:
            return
        suffix = SUFFIXES[data[0] % len(SUFFIXES)]
        model = MODELS[(data[0] // len(SUFFIXES)) % len(MODELS)]
        check_input(data[1:], suffix, folder, model)

    # The seed folder comes after the options: libFuzzer reads it as a corpus.
    # libFuzzer prints the number of inputs run ("Done N runs in T s").
    atheris.Setup([*argv, str(_seed_folder())], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
