"""From an institution's files to versioned, signed Darwin Core Archives, with their validation."""
