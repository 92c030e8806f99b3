"""The only writers of the subject store, one module per area: subjects, ingestion, merges."""
