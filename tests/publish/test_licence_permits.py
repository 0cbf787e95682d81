"""A flow may keep the data's licence or add conditions to it, never remove one."""

from __future__ import annotations

import pytest

from node.publish.licences import relicensing_problem

GPL_URL = "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html"


@pytest.mark.parametrize(
    ("data", "flow"),
    [
        ("CC0-1.0", "CC-BY-4.0"),
        ("CC-BY-4.0", "CC-BY-NC-4.0"),
        ("CC-BY-4.0", "http://creativecommons.org/licenses/by/4.0/legalcode"),
        ("GPL-2.0-only", GPL_URL),
        ("Custom licence of the herbarium", "Custom licence of the herbarium"),
    ],
)
def test_a_flow_may_keep_or_narrow_the_data_licence(data: str, flow: str) -> None:
    assert relicensing_problem(data, flow) is None


@pytest.mark.parametrize(
    ("data", "flow", "why"),
    [
        ("GPL-2.0-only", "CC-BY-NC-4.0", "does not permit sending it as CC-BY-NC-4.0"),
        ("CC-BY-NC-4.0", "CC0-1.0", "does not permit sending it as CC0-1.0"),
        ("CC-BY-NC-4.0", "CC-BY-4.0", "does not permit sending it as CC-BY-4.0"),
        ("CC-BY-4.0", "GPL-2.0-only", "does not permit sending it as GPL-2.0-only"),
        ("Custom licence of the herbarium", "CC0-1.0", "not one the node can compare"),
        ("CC-BY-4.0", "whatever the partner likes", "not one the node can compare"),
    ],
)
def test_a_flow_may_not_grant_what_the_data_licence_withholds(
    data: str, flow: str, why: str
) -> None:
    problem = relicensing_problem(data, flow)
    assert problem is not None and why in problem
