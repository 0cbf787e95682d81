"""Harvesting: peers' archives and GBIF, on a schedule, safely and incrementally."""
