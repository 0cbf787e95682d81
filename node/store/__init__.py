"""What the node keeps on disk: records, the state database, the audit log, agreements."""
