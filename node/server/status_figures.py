"""The status page's pictures: per active flow, the map of what its last export sent,
and the records sent per partner per month.

A map is drawn from the archive the flow last served, read back from the sharing cache
(node.server.sharing), not recomputed: it shows what went, even if data or rules changed since.
Its SHA-256 is compared with the newest export entry of the audit log for the same flow,
so a map of an archive the log does not record says so.
"""

from __future__ import annotations

from html import escape

import pyarrow as pa

from agreements.model import Agreement, Flow
from node.core.config import NodeConfig
from node.core.errors import NodeError
from node.dwca.reader import open_archive
from node.maps.exports_chart import render_sent_chart, sent_per_month, sent_table_html
from node.maps.received import render_received_map
from node.server.sharing import ServedArchive, last_served
from node.store.agreement_book import AgreementBook
from node.store.audit import EXPORT, AuditEntry, AuditLog
from node.store.state import connect
from node.store.store import Store

MAPPED_TERMS = ("decimalLatitude", "decimalLongitude", "coordinatePrecision")


def _received_table(served: ServedArchive) -> pa.Table:
    """The coordinate terms of the archive's core, as the partner reads them."""
    with open_archive(served.path) as archive:
        batches = []
        for batch in archive.iter_batches():
            present = [n for n in MAPPED_TERMS if n in batch.schema.names]
            batches.append(pa.Table.from_batches([batch]).select(present))
    if not batches:
        return pa.table({})
    return pa.concat_tables(batches, promote_options="default")


def _audit_note(served: ServedArchive, exports: list[AuditEntry]) -> str:
    mine = [e for e in exports if e.agreement == served.agreement and e.dataset == served.dataset]
    if not mine:
        return "not yet in the audit log as sent"
    last = mine[-1]
    if last.archive_sha256 == served.sha256:
        return f"audit entry #{last.seq}, {last.time[:19].replace('T', ' ')} UTC"
    return f"differs from the newest audit entry (#{last.seq}): rebuilt since, not yet sent"


def _flow_map(
    store: Store, agreement: Agreement, flow: Flow, dataset_id: str, exports: list[AuditEntry]
) -> str:
    served = last_served(store, dataset_id, agreement.id, flow.index)
    label = f"{agreement.ref} {flow.label}, {dataset_id}"
    if served is None:
        return f'<h3>{escape(label)}</h3><p class="muted">Nothing sent yet.</p>'
    try:
        table = _received_table(served)
    except (NodeError, OSError, ValueError, pa.ArrowException) as exc:
        problem = f"The archive cannot be read: {exc}"
        return f'<h3>{escape(label)}</h3><p class="failed">{escape(problem)}</p>'
    caption = (
        f"Archive {served.sha256[:12]}, dataset version {served.dataset_version}, "
        f"{served.records:,} records; {_audit_note(served, exports)}."
    )
    if "decimalLatitude" not in table.column_names:
        return (
            f'<h3>{escape(label)}</h3><p class="muted">{escape(caption)} No coordinates to map.</p>'
        )
    title = f"{flow.label}, {dataset_id}: what {flow.to_party} last received"
    svg = render_received_map(
        table, title, flow.region, served.counts, f"flow-{agreement.id}-{flow.index}-{dataset_id}"
    )
    caption_html = f'<figcaption class="muted">{escape(caption)}</figcaption>'
    return f'<figure class="flow-map">{svg}{caption_html}</figure>'


def status_figures(config: NodeConfig) -> str:
    """The HTML of both sections; plain inline SVG and tables, no script."""
    conn = connect(config.home)
    try:
        exports = AuditLog(conn).entries(event=EXPORT)
    finally:
        conn.close()
    store = Store(config.home)
    maps: list[str] = []
    for entry in AgreementBook(config).entries():
        if not entry.active or entry.agreement is None:
            continue
        for flow in entry.agreement.flows:
            if flow.from_party == config.id:
                maps.extend(
                    _flow_map(store, entry.agreement, flow, d, exports) for d in flow.datasets
                )
    monthly = sent_per_month(exports)
    parts = ['<h2 id="flow-maps">What partners received</h2>']
    parts.append("".join(maps) if maps else '<p class="muted">No active flow from this node.</p>')
    parts.append("<h2>Records sent per partner per month</h2>")
    if monthly:
        parts += [render_sent_chart(monthly), sent_table_html(monthly)]
    else:
        parts.append('<p class="muted">Nothing sent yet.</p>')
    return "\n".join(parts)
