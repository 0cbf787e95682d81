"""NFC of text columns: decomposed Vietnamese is composed, ASCII passes through as is."""

from __future__ import annotations

import unicodedata

import pyarrow as pa

from node.core.composed import nfc

DECOMPOSED = unicodedata.normalize("NFD", "Hà Giang, Việt Nam")
COMPOSED = "Hà Giang, Việt Nam"


def test_nfc__composes_decomposed_text() -> None:
    assert DECOMPOSED != COMPOSED
    result = nfc(pa.array(["Begonia", DECOMPOSED, None]))
    assert result.to_pylist() == ["Begonia", COMPOSED, None]


def test_nfc__ascii_column_is_returned_untouched() -> None:
    column = pa.array(["GX-1", "1958-09-17", None, ""])
    assert nfc(column) is column
    chunked = pa.chunked_array([["a", "b"], ["c"]])
    assert nfc(chunked) is chunked


def test_nfc__one_non_ascii_chunk_normalises_the_column() -> None:
    chunked = pa.chunked_array([["GX-1"], [DECOMPOSED]])
    assert nfc(chunked).to_pylist() == ["GX-1", COMPOSED]


def test_nfc__slice_of_an_ascii_window_is_still_correct() -> None:
    # The slice's values are ASCII; the buffer beyond it is not: normalising is harmless.
    column = pa.array(["GX-1", DECOMPOSED]).slice(0, 1)
    assert nfc(column).to_pylist() == ["GX-1"]
    tail = pa.array(["GX-1", DECOMPOSED]).slice(1, 1)
    assert nfc(tail).to_pylist() == [COMPOSED]


def test_nfc__non_text_columns_pass_through() -> None:
    numbers = pa.array([1.5, None])
    assert nfc(numbers) is numbers
