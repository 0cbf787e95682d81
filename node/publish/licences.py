"""Which licence a flow may grant on data that already carries one.

A node cannot give a partner more rights than it holds: GPL-2.0-only data sent as
CC-BY-NC-4.0 would let the partner relicense GPL work, and CC-BY-NC data sent as CC0 would
drop both attribution and the non-commercial condition. A flow may keep the data's licence
or add conditions to it (CC-BY data may go out as CC-BY-NC); it may never remove one. A
licence the node cannot identify permits only itself, word for word: fail closed.
"""

from __future__ import annotations

from node.core.licences import find_licence

# data licence -> the licences a flow may grant on it
_PERMITS: dict[str, frozenset[str]] = {
    "CC0-1.0": frozenset({"CC0-1.0", "CC-BY-4.0", "CC-BY-NC-4.0", "GPL-2.0-only"}),
    "CC-BY-4.0": frozenset({"CC-BY-4.0", "CC-BY-NC-4.0"}),
    "CC-BY-NC-4.0": frozenset({"CC-BY-NC-4.0"}),
    "GPL-2.0-only": frozenset({"GPL-2.0-only"}),
}


def relicensing_problem(data_licence: str, flow_licence: str) -> str | None:
    """Why data under `data_licence` cannot be sent under `flow_licence`, or None."""
    data, granted = find_licence(data_licence), find_licence(flow_licence)
    if data is None or granted is None:
        if data_licence.strip() == flow_licence.strip():
            return None
        unknown = data_licence if data is None else flow_licence
        return (
            f"licence {unknown!r} is not one the node can compare; data licensed "
            f"{data_licence!r} may go out only under that same licence"
        )
    if granted.id in _PERMITS.get(data.id, frozenset({data.id})):
        return None
    allowed = ", ".join(sorted(_PERMITS[data.id]))
    return (
        f"the data is licensed {data.id}, which does not permit sending it as {granted.id} "
        f"(it permits {allowed})"
    )


def source_licence_problem(source_licence: str | None, node_licence: str) -> str | None:
    """Why node.toml's licence may not be published on data whose own EML states
    `source_licence`, or None. Republishing is a flow like any other: a CC-BY-NC archive
    republished as CC-BY-4.0 would drop its non-commercial condition. An EML that states
    no licence leaves node.toml's in charge; one whose words name no licence the node
    knows permits only those words (see relicensing_problem)."""
    if source_licence is None:
        return None
    problem = relicensing_problem(source_licence, node_licence)
    if problem is None:
        return None
    known = find_licence(source_licence)
    stated = known.id if known else " ".join(source_licence.split())
    shown = stated if len(stated) <= 80 else stated[:77] + "..."
    return (
        f"the source's EML licenses it {shown!r}, which does not permit publishing it under "
        f"node.toml's licence {node_licence!r} ({problem})"
    )
