"""Extension rows follow their core record through enforcement.

Enforcement (agreements.enforce) decides per core record; an extension row (a photo, a
measurement, a vernacular name, an occurrence under an event) says something about that
record, so it inherits the decision: a record not sent takes its extension rows with it;
a generalised record's extension rows keep only the allow-list (NON_LOCATING_TERMS less
the coordinates, which only the core's grid generalises, plus what the flow keeps by name)
and lose their media links, whose files may carry the exact point in their metadata;
withheld terms are withheld in extensions too; opaque ids reach `coreid` and every id term.
Pure functions of Arrow tables, as enforcement is.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from agreements.disclosure import NON_LOCATING_TERMS, with_companions
from agreements.model import Agreement, Flow
from agreements.pseudonyms import ID_TERMS, SPECIMEN_NUMBER_TERMS, pseudonymise

CORE_KEY = "coreid"
# Links to media files (GBIF Simple Multimedia, Audubon Core, references of any extension).
MEDIA_TERMS = frozenset(
    {
        "identifier", "accessURI", "references", "furtherInformationURL", "thumbnailAccessURI",
        "goodQualityAccessURI", "mediumQualityAccessURI", "associatedMedia", "source",
        "derivedFrom", "serviceExpectation",
    }
)  # fmt: skip
# Dublin Core terms extension rows carry (Simple Multimedia, Audubon Core, References):
# a flow may withhold or keep them by name, as it does Darwin Core terms of the core.
DUBLIN_CORE_TERMS = frozenset(
    {
        "audience", "bibliographicCitation", "contributor", "created", "creator", "date",
        "description", "format", "identifier", "language", "license", "publisher",
        "rights", "rightsHolder", "source", "spatial", "subject", "temporal", "title", "type",
    }
)  # fmt: skip
# Terms an agreement may name beside Darwin Core's: those only extension rows carry.
EXTENSION_TERMS = MEDIA_TERMS | DUBLIN_CORE_TERMS
# An extension row carries no grid: exact coordinates there are never generalised.
COORDINATE_TERMS = frozenset(
    {"decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters", "coordinatePrecision"}
)
EXTENSION_ALLOWED = NON_LOCATING_TERMS - COORDINATE_TERMS - MEDIA_TERMS


@dataclass(frozen=True)
class CoreOutcome:
    """What enforcement did to core records, by their original id."""

    sent: pa.Array  # original ids of the records sent
    sent_as: pa.Array  # the id each of them carries out (a pseudonym with opaque ids)
    generalised: pa.Array  # original ids of the records sent generalised

    @staticmethod
    def empty() -> CoreOutcome:
        none = pa.array([], pa.string())
        return CoreOutcome(none, none, none)

    def merged(self, other: CoreOutcome) -> CoreOutcome:
        return CoreOutcome(
            pa.concat_arrays([self.sent, other.sent]),
            pa.concat_arrays([self.sent_as, other.sent_as]),
            pa.concat_arrays([self.generalised, other.generalised]),
        )


def core_outcome(
    original_ids: pa.Array,
    enforced: pa.Table,
    id_term: str,
    agreement: Agreement,
    flow: Flow,
    pseudonym_key: bytes | None,
) -> CoreOutcome:
    """Which of `original_ids` came out of enforcement as `enforced`, and how."""
    original = _text(original_ids)
    out = _text(enforced[id_term]) if id_term in enforced.column_names else _text(pa.array([]))
    carried = (
        pseudonymise(original, pseudonym_key, agreement.id)
        if flow.opaque_ids and pseudonym_key
        else original
    )
    sent = pc.fill_null(pc.is_in(carried, value_set=out), False)
    general = pa.array([], pa.string())
    if "fed_generalised" in enforced.column_names and len(out):
        flags = pc.fill_null(enforced["fed_generalised"].combine_chunks(), False)
        general_out = out.filter(flags)
        hit = pc.and_(sent, pc.fill_null(pc.is_in(carried, value_set=general_out), False))
        general = original.filter(hit)
    return CoreOutcome(original.filter(sent), carried.filter(sent), general)


def enforce_extension(
    table: pa.Table,
    outcome: CoreOutcome,
    agreement: Agreement,
    flow: Flow,
    pseudonym_key: bytes | None,
    *,
    ids_pseudonymised: bool = False,
) -> pa.Table:
    """The extension rows `flow` lets leave with the core records of `outcome`.

    Args:
        table: text columns, `coreid` first, the core's original ids in it.
        ids_pseudonymised: the rows' own id terms were pseudonymised already (an
            Occurrence extension enforced as records); only `coreid` is then replaced.
    """
    table = table.combine_chunks()
    position = pc.index_in(table[CORE_KEY], value_set=outcome.sent)
    keep = pc.is_valid(position)
    table, position = table.filter(keep), position.filter(keep)
    rows = table.num_rows
    generalised = pc.fill_null(pc.is_in(table[CORE_KEY], value_set=outcome.generalised), False)
    any_generalised = rows > 0 and pc.any(generalised).as_py()
    withheld = set(with_companions(flow.withhold))
    opaque = bool(flow.opaque_ids and pseudonym_key)
    notice = f"withheld under agreement {agreement.ref}"
    for index, name in enumerate(table.column_names):
        if name == CORE_KEY:
            continue
        values = _text(table[name])
        if name in withheld:
            values = pa.array([notice] * rows, pa.string())
        elif any_generalised and not (name in EXTENSION_ALLOWED or name in flow.keep):
            values = pc.if_else(generalised, pa.scalar(None, pa.string()), values)
        if opaque and name in SPECIMEN_NUMBER_TERMS:
            values = pa.nulls(rows, pa.string())
        elif opaque and name in ID_TERMS and not ids_pseudonymised:
            assert pseudonym_key is not None
            values = pseudonymise(values, pseudonym_key, agreement.id)
        table = table.set_column(index, name, values)
    core_ids = pc.take(outcome.sent_as, position) if opaque else table[CORE_KEY]
    return table.set_column(0, CORE_KEY, _text(core_ids))


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
