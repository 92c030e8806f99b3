"""Shared API plumbing: the error format, strict serializers, and the /api/v1/ URL tree."""
