"""PNG copies of the SVG pictures, for e-mail and documents.

CairoSVG (LGPL, maintained by CourtBouillon) renders SVG with cairo, which the node's
machines already carry; it draws the same document the browser shows, so the two never
disagree.
"""

from __future__ import annotations

PNG_SCALE = 2  # twice the SVG's pixel size: sharp on high-density screens and in print


def svg_to_png(svg: str) -> bytes:
    # Imported here, not at the top: every `fednode` command loads this module, and only
    # map writing needs cairo.
    import cairosvg

    return bytes(cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=PNG_SCALE))
