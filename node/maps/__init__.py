"""Pictures of what leaves the node: maps of what a partner receives, charts of exports.

Plain SVG written here (no plotting library): every mark carries its data in degrees
inside one projected group, so a test can read positions and cell sizes from the SVG
itself; PNG copies for e-mail come from CairoSVG. Borders are a vendored Natural Earth
extract (borders.json, see borders.md), so maps draw offline.
"""
