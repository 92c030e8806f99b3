"""The only writers of consent data: ledger events (``events``) and audience checks (``audiences``)."""
