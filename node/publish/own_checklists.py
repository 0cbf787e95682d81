"""What the node's own checklists say about names: threat categories and synonymy.

Who is sensitive, and which names an agreement's taxon scope reaches, are decisions of the
sharing node, so they come from lists it holds itself (its published checklists), never
from a partner's list: a partner's checklist could otherwise declare this node's orchids
synonyms of a taxon the agreement includes. A category on a synonym row, or on its accepted
name, applies to both names: an old name (a *Chirita* moved to *Primulina*) stays caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from agreements.threat import THREAT_TERMS, most_severe, parse_category
from mappings.names import parse_name
from node.core.config import NodeConfig
from node.store.store import PART_NAME, Store

# The accepted name the node's own checklists give a record's name: taxon scopes may widen
# through it, unlike `fed_accepted_name`, which reconciliation may take from a peer's list.
TRUSTED_ACCEPTED_NAME = "fed_trusted_accepted_name"
_COLUMNS = ("scientificName", "taxonomicStatus", "acceptedNameUsage", *THREAT_TERMS)


@dataclass(frozen=True)
class OwnNames:
    red_list: dict[str, str] = field(default_factory=dict)  # canonical name -> category text
    synonyms: dict[str, str] = field(default_factory=dict)  # canonical synonym -> accepted


def own_names(config: NodeConfig) -> OwnNames:
    """Red list and synonymy from every checklist dataset this node publishes."""
    categories: dict[str, str] = {}
    synonyms: dict[str, str] = {}
    store = Store(config.home)
    for dataset in config.datasets:
        path = store.local(dataset.id) / PART_NAME
        if dataset.type != "checklist" or not path.exists():
            continue
        present = [c for c in _COLUMNS if c in pq.read_schema(path).names]
        if "scientificName" not in present:
            continue
        for row in pq.read_table(path, columns=present).to_pylist():
            name = canonical(row.get("scientificName"))
            if not name:
                continue
            found = [parse_category(row.get(term)) for term in THREAT_TERMS if row.get(term)]
            code = most_severe(found)
            if code:
                categories[name] = most_severe([code, categories.get(name)]) or code
            accepted = canonical(row.get("acceptedNameUsage"))
            status = str(row.get("taxonomicStatus") or "").lower()
            if accepted and accepted != name and "synonym" in status:
                synonyms[name] = accepted
    for synonym, accepted in synonyms.items():
        shared = most_severe([categories.get(synonym), categories.get(accepted)])
        if shared:
            categories[synonym] = categories[accepted] = shared
    return OwnNames(categories, synonyms)


def canonical(text: object) -> str:
    """A name without authorship ("Primulina eburnea"), or "" for none."""
    if not isinstance(text, str) or not text.strip():
        return ""
    return parse_name(text).canonical or text.strip()


def with_trusted_accepted_names(table: pa.Table, synonyms: dict[str, str]) -> pa.Table:
    """Add TRUSTED_ACCEPTED_NAME: the accepted name of a record named by a synonym."""
    if not synonyms or "scientificName" not in table.column_names:
        return table
    names = table.column("scientificName").combine_chunks()
    encoded = pc.dictionary_encode(pc.cast(names, pa.string()))
    accepted = [synonyms.get(canonical(v)) for v in encoded.dictionary.to_pylist()]
    column = pc.take(pa.array(accepted, pa.string()), encoded.indices)
    if TRUSTED_ACCEPTED_NAME in table.column_names:
        table = table.drop_columns([TRUSTED_ACCEPTED_NAME])
    return table.append_column(TRUSTED_ACCEPTED_NAME, column)
