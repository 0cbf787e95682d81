"""Signed HTTP between nodes: request signatures, the nonce cache, signed statements."""
