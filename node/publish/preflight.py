"""Every dataset checked before any is published.

`fednode publish` with several datasets used to publish them one after another and stop at
the first broken one: the earlier ones were out, the later ones silently skipped, and the
node's published state matched neither the old nor the new node.toml. Checking them all
first (the source against GBIF's rules, the metadata against GBIF's EML profile) lets
publishing be all or nothing: when any dataset is broken, none is published and every
problem is reported at once. A single dataset is not read ahead: publishing validates its
batches on their way (node.publish.source_check) and commits nothing if they fail, which is
already all or nothing, with one read instead of two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mappings.sources import is_container
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import ConfigError
from node.dwca.eml import build_eml
from node.publish.drops import unmatched_drops
from node.publish.licences import source_licence_problem
from node.publish.report import ValidationReport
from node.publish.source_metadata import find_source_metadata
from node.publish.validate import validate_archive, validate_source


@dataclass
class Preflight:
    """The reports of the datasets checked, and one line per dataset that would fail."""

    reports: dict[str, ValidationReport] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)


def preflight(config: NodeConfig, targets: list[str], skip_invalid: bool) -> Preflight:
    """Check each of `targets` as publishing it would; `skip_invalid` accepts bad rows."""
    result = Preflight()
    for dataset_id in targets:
        dataset = config.dataset(dataset_id)
        try:
            found = find_source_metadata(config, dataset)
            if found.metadata is not None:
                problem = source_licence_problem(found.metadata.licence(), dataset.licence)
                if problem:
                    raise ConfigError(problem)
            build_eml(dataset, config, None, "1.0", dt.date.today(), source=found.metadata)
            unmatched = unmatched_drops(config, dataset)
            if unmatched:
                raise ConfigError(
                    f"drop {', '.join(unmatched)}: no column of the core and no extension "
                    "has this name"
                )
        except ConfigError as error:
            result.broken[dataset_id] = str(error)
        if len(targets) == 1:
            continue
        report = source_report(config, dataset)
        result.reports[dataset_id] = report
        if not report.publishable and not skip_invalid and dataset_id not in result.broken:
            kinds = ", ".join(report.blocking_kinds) or "unreadable"
            result.broken[dataset_id] = f"its source breaks GBIF's rules ({kinds})"
    return result


def is_unmapped_archive(config: NodeConfig, dataset: DatasetConfig) -> bool:
    """An archive published as it is, with no mapping file of the publisher's."""
    source = config.path(dataset.source)
    return dataset.mapping is None and (source.is_dir() or is_container(source))


def source_report(config: NodeConfig, dataset: DatasetConfig) -> ValidationReport:
    """The verdict `fednode validate` gives the dataset's source; publishing follows it.

    An archive published as it is gets `validate ARCHIVE`'s verdict, GBIF's rules on the
    archive itself: publishing must not turn an archive GBIF refuses into one it accepts
    by filling in identifiers nobody chose (its core `id` as occurrenceID). A publisher who
    means that names it in a mapping (`[id] column = "id"`), and the mapped source is
    judged, as `validate ARCHIVE --mapping FILE` judges it.
    """
    if is_unmapped_archive(config, dataset):
        return validate_archive(config.path(dataset.source))
    mapping = config.path(dataset.mapping) if dataset.mapping else None
    return validate_source(
        config.path(dataset.source), mapping, dataset.type, encoding=dataset.encoding
    )
