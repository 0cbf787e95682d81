"""The published, agreed two-node federation of tests/e2e, for the server's own tests."""

from tests.e2e.conftest import federation, federation_template, http

__all__ = ["federation", "federation_template", "http"]
