"""Darwin Core terms, column mappings for institutions' files, name parsing and reconciliation."""
