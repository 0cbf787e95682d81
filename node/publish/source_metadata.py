"""Find and read the EML a dataset's source comes with, for the published EML to carry.

An archive's metadata document is where its meta.xml says, else `eml.xml` or
`metadata.xml` in any capitalisation (IPT and python-dwca-reader samples use `EML.xml`). A
file named in node.toml's `metadata` wins. An archive's unreadable EML is reported and left
out, as `validate` reports it (a warning, not a reason to refuse the data); an EML file the
publisher named in node.toml and that cannot be read stops the publish: that was a choice,
and losing it silently is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mappings.sources import is_container
from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import ConfigError, NodeError
from node.dwca.eml_merge import SourceMetadata
from node.dwca.reader import open_archive

_NAMES = ("eml.xml", "metadata.xml")


@dataclass(frozen=True)
class FoundMetadata:
    """The source's EML when readable, and a line for the publisher when it is not."""

    metadata: SourceMetadata | None
    note: str = ""


def find_source_metadata(
    config: NodeConfig, dataset: DatasetConfig, workdir: Path | None = None
) -> FoundMetadata:
    """The EML the dataset's source comes with, if any (see the module docstring)."""
    if dataset.metadata:
        path = config.path(dataset.metadata)
        try:
            if not path.is_file():
                raise ConfigError(f"{path}: no such file")
            return FoundMetadata(SourceMetadata.from_path(path))
        except NodeError as exc:
            raise ConfigError(
                f"dataset {dataset.id!r} in node.toml: metadata {dataset.metadata!r} "
                f"cannot be read ({exc.detail})"
            ) from exc
    source = config.path(dataset.source)
    if not (source.is_dir() or is_container(source)):
        return FoundMetadata(None)
    with open_archive(source, workdir) as archive:
        document = archive.metadata_path
        if document is None or document.name == "meta.xml":
            root = archive.layout.root
            document = next((p for p in sorted(root.iterdir()) if p.name.lower() in _NAMES), None)
        if document is None:
            return FoundMetadata(None)
        try:
            return FoundMetadata(SourceMetadata.from_path(document))
        except NodeError as exc:
            return FoundMetadata(
                None, f"the source's {document.name} was not carried: {exc.detail}"
            )
