"""The shared kernel: crypto, identifiers, logging helpers. Imports no app (an import-linter contract)."""
