"""Load a checklist from any source the node meets into one Arrow layout.

Sources: the two real Chinese checklist formats (the `cnplants` table of helixcn/plantlist,
Flora of China names of helixcn/herblabel), a Darwin Core taxon CSV, a Darwin Core Archive
(core Taxon + VernacularName extension), or a table already in the store. Whatever the
source, `reconcile` sees `CHECKLIST_SCHEMA`: one row per distinct scientific name, the
verbatim name kept as written and the parsed parts beside it. `Index` is that table as
reconciliation reads it: each row parsed once, and dictionaries by canonical name, stem
key, genus, epithets, basionym bucket and vernacular name, so that reconciling two
50,000-name lists costs look-ups and per-genus scans instead of all-pairs comparisons.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from mappings import vernacular, vn_lists
from mappings.authors import original_initial
from mappings.names import ParsedName, parse_name, stem_epithet
from node.core.errors import InvalidSource
from node.core.terms import TAXON_ROW_TYPE, VERNACULAR_ROW_TYPE
from node.dwca.reader import open_archive
from node.store.store import read_parquet

CHECKLIST_SCHEMA = pa.schema(
    [
        pa.field("taxon_id", pa.string()),  # the source's id, or the CSV line number
        pa.field("name", pa.string()),  # verbatim, with authorship when the source has it
        pa.field("canonical", pa.string()),
        pa.field("authorship", pa.string()),
        pa.field("rank", pa.string()),
        pa.field("accepted_name", pa.string()),  # verbatim accepted name if a synonym, else ""
        pa.field("taxonomic_status", pa.string()),
        pa.field("vernacular_zh", pa.string()),  # names joined by " | "
        pa.field("vernacular_vi", pa.string()),
        pa.field("vernacular_en", pa.string()),
        pa.field("family", pa.string()),
        pa.field("genus", pa.string()),
    ]
)
CNPLANTS_COLUMNS = {"SPECIES_CN", "SPECIES", "SPECIES_FULL", "GENUS", "FAMILY"}
FLORA_OF_CHINA_COLUMNS = {"NAME_CN", "SCIENTIFIC_NAME"}
SYNONYM_STATUSES = ("synonym", "heterotypic", "homotypic", "proparte", "misapplied", "invalid")


@dataclass
class _Taxon:
    taxon_id: str
    name: str
    rank: str = ""
    accepted: str = ""
    status: str = ""
    family: str = ""
    genus: str = ""
    names: dict[str, list[str]] = field(default_factory=lambda: {"zh": [], "vi": [], "en": []})

    def add_vernacular(self, text: str, language: str = "") -> None:
        language = vernacular.language_of(text, language)
        if language in self.names:
            self.names[language].extend(vernacular.split_names(text, language))


def load_checklist(path: str | Path) -> pa.Table:
    """A checklist file or archive -> CHECKLIST_SCHEMA table; the format is detected."""
    path = Path(path)
    if not path.exists():
        raise InvalidSource(f"{path}: no such file or folder")
    if path.suffix == ".parquet" or (path.is_dir() and (path / "part-0.parquet").exists()):
        return from_table(read_parquet(path))
    if path.is_dir() or path.suffix.lower() in (".zip", ".tgz", ".gz"):
        return _from_archive(path)
    return _from_csv(path)


def from_table(table: pa.Table) -> pa.Table:
    """A stored table (this layout, a DwC taxon table, or occurrences) -> CHECKLIST_SCHEMA.

    Occurrence tables give one checklist row per distinct scientificName.
    """
    if {"name", "canonical"} <= set(table.column_names):
        columns = [
            table.column(f.name).cast(pa.string()).fill_null("")
            if f.name in table.column_names
            else pa.array([""] * table.num_rows, pa.string())
            for f in CHECKLIST_SCHEMA
        ]
        return pa.Table.from_arrays(columns, schema=CHECKLIST_SCHEMA)
    if "scientificName" not in table.column_names:
        raise InvalidSource(
            "the table has neither a `scientificName` column (Darwin Core) nor the "
            f"checklist layout (`name`, `canonical`); it has: {', '.join(table.column_names)}"
        )
    columns = [
        c
        for c in table.column_names
        if c in _DWC_TAXON_TERMS or c == "id" or c.startswith("fed_vernacular_")
    ]
    selected = table.select(columns)
    if "taxonID" not in columns and "id" not in columns:
        # Occurrences: millions of rows, a few thousand names; Arrow finds the distinct
        # combinations before any row becomes a Python object.
        selected = selected.group_by(columns, use_threads=False).aggregate([])
    return _build(_dwc_taxa(selected.to_pylist(), {}))


_DWC_TAXON_TERMS = {
    "taxonID", "scientificName", "scientificNameAuthorship", "taxonRank", "acceptedNameUsage",
    "acceptedNameUsageID", "taxonomicStatus", "family", "genus", "vernacularName", "language",
}  # fmt: skip


def _dwc_taxa(rows: list[dict], vernaculars: dict[str, list[tuple[str, str]]]) -> list[_Taxon]:
    """Darwin Core rows -> taxa; accepted-name links resolved through acceptedNameUsageID."""
    by_id = {(r.get("taxonID") or r.get("id") or ""): r for r in rows}
    taxa: dict[str, _Taxon] = {}
    for number, row in enumerate(rows, start=1):
        name = (row.get("scientificName") or "").strip()
        if not name:
            continue
        authorship = (row.get("scientificNameAuthorship") or "").strip()
        if authorship and authorship not in name:
            name = f"{name} {authorship}"
        taxon_id = row.get("taxonID") or row.get("id") or str(number)
        taxon = taxa.get(name)
        if taxon is None:
            accepted = (row.get("acceptedNameUsage") or "").strip()
            accepted_id = row.get("acceptedNameUsageID") or ""
            if accepted_id and accepted_id != taxon_id and accepted_id in by_id:
                target = by_id[accepted_id]
                accepted = (target.get("scientificName") or "").strip()
                target_authors = (target.get("scientificNameAuthorship") or "").strip()
                if target_authors and target_authors not in accepted:
                    accepted = f"{accepted} {target_authors}"
            status = (row.get("taxonomicStatus") or "").strip()
            if accepted == name or (accepted and not _is_synonym(status) and status):
                accepted = ""
            taxon = taxa[name] = _Taxon(
                taxon_id=taxon_id,
                name=name,
                rank=(row.get("taxonRank") or "").strip().lower(),
                accepted=accepted,
                status=status or ("synonym" if accepted else ""),
                family=(row.get("family") or "").strip(),
                genus=(row.get("genus") or "").strip(),
            )
        if row.get("vernacularName"):
            taxon.add_vernacular(row["vernacularName"], row.get("language") or "")
        for language in ("zh", "vi", "en"):  # the node's stored layout carries these columns
            if row.get(f"fed_vernacular_{language}"):
                taxon.add_vernacular(row[f"fed_vernacular_{language}"], language)
        for text, language in vernaculars.get(row.get("id") or taxon_id, ()):
            taxon.add_vernacular(text, language)
    return list(taxa.values())


def _is_synonym(status: str) -> bool:
    status = status.lower().replace(" ", "").replace("-", "")
    return any(word in status for word in SYNONYM_STATUSES)


def _read_csv(path: Path) -> pa.Table:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(65536)
    try:
        delimiter = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",\t;|").delimiter
    except (csv.Error, IndexError):
        delimiter = ","
    header = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter)) if sample else []
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf-8"),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidSource(f"{path.name}: cannot read as CSV ({exc})") from exc


def _from_csv(path: Path) -> pa.Table:
    table = _read_csv(path)
    columns = set(table.column_names)
    if columns >= CNPLANTS_COLUMNS:
        return _build(_cnplants_taxa(table))
    if columns >= FLORA_OF_CHINA_COLUMNS:
        return _build(_flora_of_china_taxa(table))
    if vn_lists.is_vietnamese_list(table.column_names):
        return from_table(vn_lists.to_darwin_core(table))
    if "scientificName" in columns:
        return from_table(table)
    raise InvalidSource(
        f"{path.name}: unknown checklist columns ({', '.join(table.column_names)}); expected "
        "Darwin Core terms (scientificName, ...), the cnplants columns (SPECIES_CN, SPECIES, "
        "SPECIES_FULL, GENUS, FAMILY) or the Flora of China names (NAME_CN, SCIENTIFIC_NAME)"
    )


def _cnplants_taxa(table: pa.Table) -> Iterator[_Taxon]:
    for number, row in enumerate(table.to_pylist(), start=2):  # line 1 is the header
        name = (row["SPECIES_FULL"] or row["SPECIES"]).strip()
        if not name:
            continue
        taxon = _Taxon(str(number), name, family=row["FAMILY"], genus=row["GENUS"])
        taxon.add_vernacular(row["SPECIES_CN"], "zh")
        yield taxon


def _flora_of_china_taxa(table: pa.Table) -> list[_Taxon]:
    """Each name comes twice, with its simplified and its traditional Chinese name."""
    taxa: dict[str, _Taxon] = {}
    names = table.column("SCIENTIFIC_NAME").to_pylist()
    chinese = table.column("NAME_CN").to_pylist()
    for number, (name, zh) in enumerate(zip(names, chinese, strict=True), start=2):
        name = name.strip()
        if not name:
            continue
        taxon = taxa.get(name)
        if taxon is None:
            taxon = taxa[name] = _Taxon(str(number), name)
        taxon.add_vernacular(zh, "zh")
    return list(taxa.values())


def _from_archive(path: Path) -> pa.Table:

    with open_archive(path) as archive:
        if archive.core.row_type not in (TAXON_ROW_TYPE, None):
            raise InvalidSource(
                f"{path.name}: the core is {archive.core.row_type}, not a Taxon checklist; "
                "load occurrence data with mappings.checklists.from_table"
            )
        rows = archive.read_table().to_pylist()
        vernaculars: dict[str, list[tuple[str, str]]] = {}
        extension = archive.extension(VERNACULAR_ROW_TYPE)
        if extension is not None:
            for row in archive.read_table(extension).to_pylist():
                vernaculars.setdefault(row.get("coreid") or "", []).append(
                    (row.get("vernacularName") or "", row.get("language") or "")
                )
    return _build(_dwc_taxa(rows, vernaculars))


def _build(taxa: Iterable[_Taxon]) -> pa.Table:
    columns: dict[str, list[str]] = {f.name: [] for f in CHECKLIST_SCHEMA}
    for taxon in taxa:
        parsed = parse_name(taxon.name)
        values = {
            "taxon_id": taxon.taxon_id,
            "name": taxon.name,
            "canonical": parsed.canonical,
            "authorship": parsed.authorship,
            "rank": taxon.rank or parsed.rank,
            "accepted_name": taxon.accepted,
            "taxonomic_status": taxon.status,
            "vernacular_zh": vernacular.join_names(taxon.names["zh"]),
            "vernacular_vi": vernacular.join_names(taxon.names["vi"]),
            "vernacular_en": vernacular.join_names(taxon.names["en"]),
            "family": taxon.family or (parsed.genus if parsed.rank == "family" else ""),
            "genus": taxon.genus
            or (parsed.genus if parsed.epithets or parsed.rank == "genus" else ""),
        }
        for key, value in values.items():
            columns[key].append(value or "")
    return pa.Table.from_pydict(columns, schema=CHECKLIST_SCHEMA)


# -- the checklist as `reconcile` reads it --------------------------------------------
@dataclass(slots=True)
class ChecklistEntry:
    """One checklist row, parsed once."""

    row: int
    taxon_id: str
    name: str
    parsed: ParsedName
    authorship: str
    accepted: str
    zh: str
    vi: str
    en: str
    family: str


def entries(table: pa.Table) -> list[ChecklistEntry]:
    """The rows of a CHECKLIST_SCHEMA table, each parsed once."""
    c = {name: table.column(name).to_pylist() for name in table.column_names}
    return [
        ChecklistEntry(
            i,
            c["taxon_id"][i],
            name,
            parse_name(name),
            c["authorship"][i],
            c["accepted_name"][i],
            c["vernacular_zh"][i],
            c["vernacular_vi"][i],
            c["vernacular_en"][i],
            c["family"][i],
        )
        for i, name in enumerate(c["name"])
    ]


class Index:
    """A checklist indexed so that each reconciliation stage is a dictionary look-up or a
    scan of one genus: two 50,000-name lists reconcile in seconds, not hours."""

    def __init__(self, entries: list[ChecklistEntry]) -> None:
        self.entries = entries
        self.by_name: dict[str, ChecklistEntry] = {}
        self.by_exact: dict[str, list[ChecklistEntry]] = defaultdict(list)
        self.by_stem: dict[str, list[ChecklistEntry]] = defaultdict(list)
        self.by_genus: dict[str, list[ChecklistEntry]] = defaultdict(list)
        self.by_epithets: dict[str, list[ChecklistEntry]] = defaultdict(list)
        # (last epithet stem, original author's initial) -> names: homotypic candidates
        self.by_last_epithet: dict[tuple[str, str], list[ChecklistEntry]] = defaultdict(list)
        self.by_zh: dict[str, list[ChecklistEntry]] = defaultdict(list)
        self.by_vi: dict[str, list[ChecklistEntry]] = defaultdict(list)
        self.synonyms: dict[str, list[ChecklistEntry]] = defaultdict(
            list
        )  # accepted name -> synonyms
        vernacular.prepare_zh_keys(e.zh for e in entries)
        for entry in entries:
            parsed = entry.parsed
            self.by_name.setdefault(entry.name, entry)
            if entry.accepted:
                self.synonyms[entry.accepted].append(entry)
            self.by_exact[parsed.exact_key].append(entry)
            if parsed.genus:
                self.by_stem[parsed.stem_key].append(entry)
            if parsed.epithets:
                genus, _, epithets = parsed.stem_key.partition(" ")
                self.by_genus[genus].append(entry)
                self.by_epithets[epithets].append(entry)
                last = stem_epithet(parsed.epithets[-1])
                self.by_last_epithet[(last, original_initial(entry.authorship))].append(entry)
            for key in vernacular.keys(entry.zh, "zh"):
                self.by_zh[key].append(entry)
            for key in vernacular.keys(entry.vi, "vi"):
                self.by_vi[key].append(entry)

    def find(self, name: str) -> ChecklistEntry | None:
        """An entry by verbatim name, else by canonical name when that is unique."""
        if name in self.by_name:
            return self.by_name[name]
        found = self.by_exact.get(parse_name(name).exact_key, [])
        return found[0] if len(found) == 1 else None

    def accepted_of(self, entry: ChecklistEntry) -> ChecklistEntry:
        """The accepted entry of a synonym; an accepted name the list gives only as text
        (`acceptedNameUsage`, no row of its own) is still the synonym's accepted name."""
        if not entry.accepted:
            return entry
        found = self.find(entry.accepted)
        if found is not None:
            return found
        parsed = parse_name(entry.accepted)
        return ChecklistEntry(-1, "", entry.accepted, parsed, parsed.authorship, "", "", "", "", "")
