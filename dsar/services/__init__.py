"""DSAR use cases: requests (workflow and deadlines), execution (per-source tasks), packages (answers)."""
