"""Opaque record identifiers: the same record gets the same pseudonym under one agreement.

An `occurrenceID` such as `GXIB:Jingxi-cave-3:0042` names a place no enforcement rule can
reach. A flow with `opaque_ids = true` replaces every identifier term with a keyed hash
(BLAKE2b keyed with the node's secret, salted with the agreement id): stable across
versions and re-harvests, so a partner's copies still line up, but neither reversible nor
comparable across agreements.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

ID_TERMS = (
    "occurrenceID", "taxonID", "eventID", "parentEventID", "acceptedNameUsageID",
    "parentNameUsageID", "originalNameUsageID",
)  # fmt: skip
# Cleared with opaque ids: a catalogue or field number finds the specimen as an id would.
SPECIMEN_NUMBER_TERMS = (
    "catalogNumber", "otherCatalogNumbers", "recordNumber", "fieldNumber", "materialSampleID",
    "organismID",
)  # fmt: skip
_DIGEST_BYTES = 16


def pseudonym_key(node_secret: bytes) -> bytes:
    """A 32-byte key for pseudonyms, derived so the signing key itself is never used."""
    return hashlib.blake2b(node_secret, digest_size=32, person=b"fednode-opaque").digest()


def pseudonymise(values: pa.Array, key: bytes, agreement_id: str) -> pa.Array:
    """Each non-empty value -> `<agreement id>:<32 hex digits>`; empty stays empty."""
    encoded = pc.dictionary_encode(values)
    salt = agreement_id.encode("utf-8") + b"\x00"
    out = []
    for value in encoded.dictionary.to_pylist():
        if not value:
            out.append(value)
            continue
        digest = hashlib.blake2b(salt + value.encode("utf-8"), key=key, digest_size=_DIGEST_BYTES)
        out.append(f"{agreement_id}:{digest.hexdigest()}")
    return pc.take(pa.array(out, pa.string()), encoded.indices)
