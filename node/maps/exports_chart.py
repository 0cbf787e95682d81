"""Records sent per partner per month, from the audit log's export entries.

The audit log is the record of what left (node.store.audit): each "export" entry counts the
records sent in that archive. A partner who harvests the same archive twice received it
twice, and the chart counts both, as the log does. Months run from the first export to
the last, gaps included, so a quiet month shows as a gap rather than vanishing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from html import escape

from node.store.audit import EXPORT, AuditEntry

CHART_WIDTH_PX = 820
CHART_HEIGHT_PX = 260
AXIS_PX = 60  # left margin for the count axis
BOTTOM_PX = 40  # room for month labels
MAX_MONTHS = 24  # older months stay in the log and the table, not the picture
# Okabe & Ito 2008 colour-blind-safe palette, one colour per partner in name order.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442")

Monthly = dict[str, dict[str, int]]  # "2025-03" -> partner -> records sent


def sent_per_month(entries: Iterable[AuditEntry]) -> Monthly:
    """Sum the `sent` count of each export entry by month (UTC) and partner."""
    months: Monthly = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        if entry.event != EXPORT:
            continue
        sent = entry.counts.get("sent", 0)
        months[entry.time[:7]][entry.peer or "unknown"] += sent
    return {month: dict(parties) for month, parties in sorted(months.items())}


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def render_sent_chart(monthly: Monthly) -> str:
    """A stacked bar chart (SVG) of `monthly`; empty text when nothing was sent."""
    if not monthly:
        return ""
    months = _month_range(min(monthly), max(monthly))[-MAX_MONTHS:]
    partners = sorted({p for parties in monthly.values() for p in parties})
    colours = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(partners)}
    top = max(sum(monthly.get(m, {}).values()) for m in months) or 1
    plot_h = CHART_HEIGHT_PX - BOTTOM_PX - 30
    slot = (CHART_WIDTH_PX - AXIS_PX - 10) / len(months)
    bar_w = min(slot * 0.7, 60)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH_PX}" '
        f'height="{CHART_HEIGHT_PX}" viewBox="0 0 {CHART_WIDTH_PX} {CHART_HEIGHT_PX}" '
        'font-family="sans-serif" font-size="12" role="img" class="sent-chart">',
        "<title>Records sent per partner per month</title>",
        f'<line x1="{AXIS_PX}" y1="{20 + plot_h}" x2="{CHART_WIDTH_PX - 10}" '
        f'y2="{20 + plot_h}" stroke="#555"/>',
        f'<text x="{AXIS_PX - 6}" y="24" text-anchor="end">{top:,}</text>',
        f'<text x="{AXIS_PX - 6}" y="{20 + plot_h}" text-anchor="end">0</text>',
    ]
    for i, month in enumerate(months):
        x = AXIS_PX + i * slot + (slot - bar_w) / 2
        base = float(20 + plot_h)
        for partner in partners:
            sent = monthly.get(month, {}).get(partner, 0)
            if not sent:
                continue
            h = plot_h * sent / top
            base -= h
            out.append(
                f'<rect class="bar" data-month="{month}" data-partner="{escape(partner)}" '
                f'data-sent="{sent}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colours[partner]}"><title>{escape(partner)}, '
                f"{month}: {sent:,} records</title></rect>"
            )
        out.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{20 + plot_h + 16}" text-anchor="middle">'
            f"{month}</text>"
        )
    x = AXIS_PX
    for partner in partners:
        out.append(
            f'<rect x="{x}" y="{CHART_HEIGHT_PX - 14}" width="12" height="12" '
            f'fill="{colours[partner]}"/><text x="{x + 16}" y="{CHART_HEIGHT_PX - 4}">'
            f"{escape(partner)}</text>"
        )
        x += 30 + 8 * len(partner)
    out.append("</svg>")
    return "\n".join(out)


def sent_table_html(monthly: Monthly) -> str:
    """The chart's numbers as a table: readable without pictures, and copyable."""
    rows = "".join(
        f"<tr><td>{month}</td><td>{escape(partner)}</td><td>{sent:,}</td></tr>"
        for month, parties in monthly.items()
        for partner, sent in sorted(parties.items())
    )
    return (
        '<table class="sent"><thead><tr><th>Month (UTC)</th><th>Partner</th>'
        f"<th>Records sent</th></tr></thead><tbody>{rows}</tbody></table>"
    )
