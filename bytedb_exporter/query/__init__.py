"""Query lifecycle monitoring: executions, the aggregating monitor, snapshots, reports, SQL text."""
