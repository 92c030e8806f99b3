"""Files a requester sends with a request (a representative's or guardian's proof of authority).

Only PDF, PNG and JPEG are taken, recognised by their first bytes (a name or a browser's content type
proves nothing). The file is encrypted at rest under the request's own data key, the way packages are
(``sealed_file_write``), and bound to its row: shredding the request's key makes it unreadable. Staff
read it only through ``document_read``, which writes who read it to the request's trail.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from c360.lib.crypto import data_key_open
from c360.lib.errors import NotFound, ValidationFailed
from c360.lib.history import Actor, acting_as
from dsar.models import DataRequest, RequestDocument
from dsar.services.packages import sealed_file_read, sealed_file_write
from dsar.services.requests import _event

logger = logging.getLogger(__name__)

# The first bytes of each accepted type. JPEG: SOI marker and the first segment's marker byte.
SIGNATURES = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def document_type_detect(head: bytes) -> str | None:
    """The content type of a file from its first bytes, if it is one c360 takes; else None."""
    for content_type, signature in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def document_path(document: RequestDocument) -> Path:
    return Path(settings.C360_FILES_DIR) / "dsar-documents" / str(document.request_id) / f"{document.id}.enc"


def document_store(
    *, request: DataRequest, kind: str, content_type: str, content: bytes, actor: Actor
) -> RequestDocument:
    """Keep a file the requester sent, encrypted under the request's key; its checks are repeated here so
    no caller can store a file the portal form would have refused."""
    errors: dict[str, list[str]] = {}
    if kind not in RequestDocument.Kind.values:
        errors["kind"] = [f"Use one of {', '.join(RequestDocument.Kind.values)}."]
    if document_type_detect(content[:16]) != content_type:
        errors["content_type"] = ["Only PDF, PNG or JPEG files are taken, recognised by their content."]
    if not content or len(content) > settings.C360_PORTAL_UPLOAD_MAX_BYTES:
        errors["content"] = [f"A file has 1 to {settings.C360_PORTAL_UPLOAD_MAX_BYTES} bytes."]
    if errors:
        raise ValidationFailed("The document cannot be kept.", errors=errors)
    document = RequestDocument(
        id=uuid.uuid4(),
        request=request,
        kind=kind,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        created_at=timezone.now(),
    )
    sealed_file_write(
        document_path(document), content, data_key=data_key_open(request.key), context=document.file_context()
    )
    document.save(force_insert=True)
    with acting_as(actor):
        _event(
            request, actor, "document", note=f"{kind}: {content_type}, {len(content)} bytes", document=str(document.id)
        )
    return document


@transaction.atomic
def document_read(*, document_id: uuid.UUID | str, actor: Actor) -> tuple[RequestDocument, bytes]:
    """A document's clear bytes for staff checking it; the reading is written to the request's trail."""
    document = RequestDocument.objects.select_related("request__key").filter(pk=document_id).first()
    if document is None:
        raise NotFound("No document has that id.")
    request = document.request
    content = sealed_file_read(
        document_path(document), data_key=data_key_open(request.key), context=document.file_context()
    )
    with acting_as(actor):
        _event(request, actor, "document_read", note=f"{document.kind} opened", document=str(document.id))
    logger.info("DSAR %s: document %s read by %s", request.protocol, document.id, actor)
    return document, content
