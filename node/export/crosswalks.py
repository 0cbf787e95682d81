"""Crosswalks the node keeps (`store/crosswalks/<left>__<right>/`) and how other parts use
them: the export's `fed_accepted_name`, and agreements' taxon scopes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from agreements.scope import INFERRED_FAMILY
from node.core.config import NodeConfig
from node.core.errors import InvalidInput, NotFound
from node.export.schema import AcceptedNameLookup, prepare_crosswalk
from node.store.store import PART_NAME, Store, read_parquet


def resolve_checklist(config: NodeConfig, spec: str) -> pa.Table | Path:
    """A checklist named as the CLI accepts it: an own dataset id, `<peer>/<dataset>`,
    `gbif/<query>`, `<ipt>/<resource>`, or a file path (CSV or DwC-A)."""
    store = Store(config.home)
    if any(d.id == spec for d in config.datasets):
        path = store.local(spec)
        if not (path / PART_NAME).exists():
            raise NotFound(f"dataset {spec!r} is not published yet; run `fednode publish {spec}`")
        return read_parquet(path)
    head, _, tail = spec.partition("/")
    if tail and head == "gbif" and (store.gbif(tail) / PART_NAME).exists():
        return read_parquet(store.gbif(tail))
    if tail and (store.harvested(head, tail) / PART_NAME).exists():
        return read_parquet(store.harvested(head, tail))
    ipt_ids = {i.id for i in config.ipt}
    if tail and head in ipt_ids and (store.ipt(head) / tail / PART_NAME).exists():
        return read_parquet(store.ipt_resource(head, tail))
    path = Path(spec)
    if path.exists():
        return path
    raise InvalidInput(
        f"{spec!r} is neither a dataset of this node, a harvested <peer>/<dataset>, "
        "gbif/<query>, <ipt>/<resource>, nor a file"
    )


def crosswalk_folder(config: NodeConfig, left: str, right: str) -> Path:
    safe = "__".join(s.replace("/", "~") for s in (left, right))
    return Store(config.home).crosswalks() / safe


def name_links(config: NodeConfig) -> pa.Table | None:
    """`verbatim_name`, `accepted_name`, `match_kind` from every stored crosswalk."""
    root = Store(config.home).crosswalks()
    tables = []
    for folder in sorted(root.glob("*/crosswalk")) if root.is_dir() else []:
        if not (folder / PART_NAME).exists():
            continue
        columns = ["left_name", "right_name", "accepted_name", "match_kind", "confidence"]
        table = read_parquet(folder, columns=columns)
        table = table.filter(pc.is_valid(table.column("accepted_name")))
        for side in ("left_name", "right_name"):
            part = table.select([side, "accepted_name", "match_kind", "confidence"])
            part = part.rename_columns(
                ["verbatim_name", "accepted_name", "match_kind", "confidence"]
            )
            tables.append(part.filter(pc.is_valid(part.column("verbatim_name"))))
    if not tables:
        return None
    # A name may pair with several candidates (ambiguous) or appear in several crosswalks:
    # the most confident link wins, so each verbatim name has one accepted name.
    links = pa.concat_tables(tables).sort_by([("confidence", "descending")])
    first = pc.equal(
        pa.array(range(links.num_rows)),
        pc.index_in(links.column("verbatim_name"), links.column("verbatim_name")),
    )
    return links.filter(first).drop_columns(["confidence"])


def accepted_name_lookup(config: NodeConfig) -> AcceptedNameLookup | None:
    """The node's crosswalks, checked and indexed once for many batches."""

    links = name_links(config)
    return prepare_crosswalk(links) if links is not None else None


def with_accepted_names(table: pa.Table, lookup: AcceptedNameLookup | None) -> pa.Table:
    """Add `fed_accepted_name` / `fed_match_kind`, so that agreement taxon scopes also
    match records named under another concept."""
    if lookup is None or "scientificName" not in table.column_names:
        return table
    names = table.column("scientificName").combine_chunks()
    accepted, kind, _ = lookup.lookup(names)
    for name, values in (("fed_accepted_name", accepted), ("fed_match_kind", kind)):
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, values)
    return table


def crosswalks_fingerprint(config: NodeConfig) -> str:
    """Changes whenever a crosswalk or one of the node's own datasets is rewritten (each
    write is a new snapshot): the names and families that scope records come from them."""
    root = Store(config.home).root
    links = [*root.glob("crosswalks/*/crosswalk"), *root.glob("local/*")]
    return ",".join(sorted(p.resolve().name for p in links if p.is_symlink()))


def family_index(config: NodeConfig) -> pa.Table | None:
    """genus -> family from the node's own datasets that carry both, keeping only genera
    placed in a single family (harvested data changes too often to key archives on)."""
    root = Store(config.home).root / "local"
    tables = []
    if root.is_dir():
        for part in sorted(root.glob(f"*/{PART_NAME}")):
            names = pq.read_schema(part).names
            if "genus" in names and "family" in names:
                table = pq.read_table(part, columns=["genus", "family"])
                tables.append(
                    table.cast(pa.schema([("genus", pa.string()), ("family", pa.string())]))
                )
    if not tables:
        return None
    pairs = pa.concat_tables(tables)
    pairs = pairs.filter(
        pc.and_(
            pc.greater(pc.utf8_length(pc.fill_null(pairs["genus"], "")), 0),
            pc.greater(pc.utf8_length(pc.fill_null(pairs["family"], "")), 0),
        )
    )
    unique = pairs.group_by(["genus", "family"]).aggregate([])
    counts = unique.group_by("genus").aggregate([("family", "count")])
    single = counts.filter(pc.equal(counts["family_count"], 1)).column("genus")
    return unique.filter(pc.is_in(unique["genus"], value_set=single))


def with_inferred_family(table: pa.Table, index: pa.Table | None) -> pa.Table:
    """Add `fed_inferred_family` from the record's genus (or its name's first word)."""

    if index is None or table.num_rows == 0:
        return table
    if "genus" in table.column_names:
        genus = pc.fill_null(pc.cast(table["genus"], pa.string()), "")
    else:
        genus = pa.chunked_array([pa.array([""] * table.num_rows, pa.string())])
    if "scientificName" in table.column_names:
        first = pc.list_element(
            pc.utf8_split_whitespace(
                pc.fill_null(pc.cast(table["scientificName"], pa.string()), " ")
            ),
            0,
        )
        genus = pc.if_else(pc.greater(pc.utf8_length(genus), 0), genus, first)
    position = pc.index_in(genus, value_set=index.column("genus"))
    family = pc.take(index.column("family"), position)
    if INFERRED_FAMILY in table.column_names:
        table = table.drop_columns([INFERRED_FAMILY])
    return table.append_column(INFERRED_FAMILY, family)
