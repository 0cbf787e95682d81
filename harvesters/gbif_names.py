"""GBIF's backbone name match: a last resort for names neither checklist resolves.

Reconciliation runs locally first (a node must work offline; GBIF is an optional adapter);
what stays unmatched may be asked of GBIF, one name a request, at the client's pace.
pygbif 0.7's `name_backbone` is fixed to `https://api.gbif.org/v2` and cannot reach another
base URL (a mirror, the test replay), so the v1 backbone match (`species/match`) is asked
through pygbif's own transport at `NodeConfig.gbif_api_url`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harvesters.gbif_client import GbifClient
from node.core import constants
from node.core.config import NodeConfig

# The fields of GBIF's answer a crosswalk keeps.
MATCH_FIELDS = (
    "usageKey",
    "acceptedUsageKey",
    "scientificName",
    "canonicalName",
    "rank",
    "status",
    "matchType",
    "confidence",
    "kingdom",
    "phylum",
    "order",
    "family",
    "genus",
    "species",
)


def accepted_match(answer: dict[str, Any], min_confidence: int) -> dict[str, Any] | None:
    """GBIF's answer if it names the taxon itself with enough confidence, else None.

    `HIGHERRANK` (only the genus or family matched) and `NONE` say the name is not known;
    a crosswalk must not turn a species into its genus.
    """
    if answer.get("matchType") not in ("EXACT", "FUZZY", "VARIANT"):
        return None
    if int(answer.get("confidence") or 0) < min_confidence:
        return None
    match = {k: answer[k] for k in MATCH_FIELDS if k in answer}
    match["source"] = "gbif-backbone"
    return match


class GbifNameMatcher:
    """`matcher(name) -> dict | None`; `await matcher.match(name)` inside the event loop."""

    def __init__(
        self, client: GbifClient, min_confidence: int = constants.GBIF_MATCH_MIN_CONFIDENCE
    ) -> None:
        self.client = client
        self.min_confidence = min_confidence

    async def match(self, name: str, kingdom: str | None = None) -> dict[str, Any] | None:
        name = " ".join(name.split())
        if not name:
            return None
        params = {"name": name, "strict": "false", "verbose": "false", "kingdom": kingdom}
        answer = await self.client.get_json("species/match", params)
        return accepted_match(answer, self.min_confidence) if isinstance(answer, dict) else None

    def __call__(self, name: str, kingdom: str | None = None) -> dict[str, Any] | None:
        """For reconciliation code that runs outside an event loop (the CLI, a worker thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.match(name, kingdom))
        raise RuntimeError("called inside an event loop: use `await matcher.match(name)`")


def gbif_matcher(config: NodeConfig, client: GbifClient | None = None) -> GbifNameMatcher:
    """The node's GBIF name matcher, pointed at its configured GBIF API."""
    return GbifNameMatcher(client or GbifClient.for_node(config))
