"""Write the broken files of the command-line corpus (run from this folder).

Each file is a few bytes of made-up data, broken in one way; the text files
are written here too so that the whole corpus is reproducible. The expected
message of each lives in tests/test_cli_corpus.py.
"""

import bz2
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Eight rows of two classes: enough for the splits when nothing else is wrong.
GOOD_SVM = "".join(f"{i % 2} 1:{i}.5 2:{(3 * i) % 5}\n" for i in range(8))
GOOD_CSV = "a,b,target\n" + "".join(
    f"{i}.5,{(3 * i) % 5},{i % 2}\n" for i in range(8))

TEXT = {
    "empty.svm": "",
    "blank_lines.csv": "\n\n   \n",
    "svm_bad_value.svm": GOOD_SVM + "0 1:0.25 2:x\n",
    "svm_bad_label.svm": GOOD_SVM + "zero 1:0.25\n",
    "svm_two_colons.svm": GOOD_SVM + "1 1:0.5:3\n",
    "svm_unsorted.svm": GOOD_SVM + "1 2:0.5 1:3\n",
    "svm_negative_index.svm": GOOD_SVM + "1 -1:3\n",
    "svm_huge_index.svm": GOOD_SVM + "1 99999999999999999999:1\n",
    "svm_index_beyond_int.svm": GOOD_SVM + "1 4000000000:1\n",
    "svm_nan.svm": GOOD_SVM + "1 1:nan\n",
    "svm_inf.svm": GOOD_SVM + "1 2:inf\n",
    "svm_no_features.svm": "".join(f"{i % 2}\n" for i in range(8)),
    "svm_one_class.svm": "".join(f"1 1:{i}\n" for i in range(8)),
    "csv_missing_target.csv": GOOD_CSV + "3,4,\n",
    "csv_missing_feature.csv": GOOD_CSV + "3,,1\n",
    "csv_short_row.csv": GOOD_CSV + "3,4\n",
    "csv_text_feature.csv": GOOD_CSV + "3,four,1\n",
    "csv_header_only.csv": "a,b,target\n",
    "csv_no_header.csv": "1,2,0\n3,4,1\n",
    "csv_one_column.csv": "target\n0\n1\n",
    "csv_overflow.csv": GOOD_CSV + "1e999,2,0\n",
    "csv_nan.csv": GOOD_CSV + "nan,2,0\n",
    "csv_one_class.csv": "a,b,target\n" + "".join(f"{i},1,x\n" for i in range(8)),
    "csv_continuous_target.csv": "a,b,target\n" + "".join(
        f"{i},1,{i}.25\n" for i in range(8)),
    "csv_unclosed_quote.csv": 'a,b,target\n"1,2,0\n',
    "unknown_format.dat": "just some words\nand more words\n",
}


def _npz(name, **arrays):
    np.savez(HERE / name, **arrays)


def main():
    """Write every file of the corpus."""
    for name, text in TEXT.items():
        (HERE / name).write_text(text)

    (HERE / "garbage.dat").write_bytes(bytes(range(256))[::-7] * 2)
    (HERE / "not_gzip.csv.gz").write_bytes(b"not gzip at all\n")
    (HERE / "not_bz2.svm.bz2").write_bytes(b"not bz2 at all\n")
    whole = gzip.compress(GOOD_CSV.encode(), mtime=0)
    (HERE / "truncated.csv.gz").write_bytes(whole[: len(whole) // 2])
    whole = bz2.compress(GOOD_SVM.encode())
    (HERE / "truncated.svm.bz2").write_bytes(whole[: len(whole) // 2])
    # A gzip whose deflate stream is damaged in the middle: zlib.error.
    whole = bytearray(gzip.compress(GOOD_SVM.encode() * 4, mtime=0))
    whole[20:28] = b"\xff" * 8
    (HERE / "corrupt.svm.gz").write_bytes(bytes(whole))
    (HERE / "not_zip.npz").write_bytes(b"PK\x03\x04 but not a zip archive")

    y = np.arange(8) % 2
    X = np.arange(16.0).reshape(8, 2)
    _npz("npz_no_arrays.npz", a=np.ones(3))
    _npz("npz_no_labels.npz", X=X)
    _npz("npz_length_mismatch.npz", X=X, y=np.append(y, 1))
    _npz("npz_1d_features.npz", X=X[:, 0], y=y)
    _npz("npz_2d_labels.npz", X=X, y=y[:, None])
    _npz("npz_text_features.npz", X=np.char.add("v", X.astype(str)), y=y)
    _npz("npz_complex_features.npz", X=X + 1j, y=y)
    _npz("npz_no_rows.npz", X=X[:0], y=y[:0])
    _npz("npz_no_columns.npz", X=X[:, :0], y=y)
    _npz("npz_csr_index_out_of_range.npz", data=np.ones(3),
         indices=np.array([0, 5, 1]), indptr=np.array([0, 1, 3]),
         shape=np.array([2, 2]), y=np.array([0, 1]))
    _npz("npz_csr_bad_indptr.npz", data=np.ones(3), indices=np.array([0, 1, 1]),
         indptr=np.array([0, 5, 3]), shape=np.array([2, 2]), y=np.array([0, 1]))
    # An object array needs pickle, which the loader refuses.
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1, None]], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(HERE / "npz_object_features.npz", "w") as z:
        z.writestr("X.npy", buffer.getvalue())
        z.writestr("y.npy", _npy(np.array([1])))


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
