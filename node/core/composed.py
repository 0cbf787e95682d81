"""Composed Unicode (NFC) for text columns, without paying for it where it cannot change.

Vietnamese typed with combining tone marks (windows-1258, macOS, some keyboards) must
equal the same words typed composed, or a search and a duplicate check miss them, so
every text value is normalised on its way in. Normalisation decomposes and recomposes
every character, yet ASCII text is already in NFC; most columns of an institution's file
(ids, codes, dates, numbers, Latin names) are ASCII, so they are recognised from their
bytes first and passed through as they are.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _ascii(chunk: pa.Array) -> bool:
    """True when no byte of the chunk's value buffer is >= 0x80. The buffer may hold bytes
    of values outside a sliced chunk; those only make the answer "no", which is safe."""
    data = chunk.buffers()[2]
    if data is None or data.size == 0:
        return True
    return int(np.frombuffer(data, np.uint8).max()) < 0x80


def nfc(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`values` in NFC; the same object when it is not text or is all ASCII."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if all(_ascii(chunk) for chunk in chunks):
        return values
    return pc.utf8_normalize(values, "NFC")
