"""The answer to an access or portability request: a package the subject downloads once.

Files: one JSON per source (records with field categories and provenance), ``data.csv`` (one row per
field), and ``summary.<lang>.txt`` with the GDPR Art. 15(1) items and the LGPD Art. 19 II declaration
(origin, criteria, purposes, recipients, retention). ``manifest.json`` lists every file's SHA-256 and is
signed with the deployment's Ed25519 key. The whole package is encrypted at rest under its own key and
handed out by a single-use link that expires.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from c360.lib.crypto import DataKey, WrappedKey, data_key_create, data_key_open, decrypt_stream, encrypt_stream
from c360.lib.errors import Conflict, Gone, NotFound
from c360.lib.faults import failpoint
from c360.lib.history import Actor, acting_as
from c360.lib.signing import sign
from consent.models import Purpose
from dsar.models import DataRequest, ExportPackage, RequestTask
from dsar.services.execution import load_export
from dsar.services.requests import _event, request_release_automatically

SUMMARY_TEXT = {
    "pt-br": {
        "title": "Declaração completa (LGPD Art. 19 II) e informações de acesso (GDPR Art. 15)",
        "protocol": "Protocolo",
        "found": "Encontramos dados seus nos seguintes sistemas",
        "none": "Não encontramos nenhum registro seu nos sistemas conectados.",
        "purposes": "Finalidades",
        "categories": "Categorias de dados",
        "recipients": "Com quem compartilhamos",
        "retention": "Por quanto tempo guardamos",
        "origin": "Origem dos dados",
        "criteria": "Critérios",
        "criteria_text": "Os perfis são unificados por regras determinísticas (CPF, e-mail, telefone, identificadores"
        " dos sistemas de origem); nenhuma decisão exclusivamente automatizada é tomada com eles.",
        "rights": "Seus direitos: correção, anonimização, bloqueio, eliminação, portabilidade, revogação do"
        " consentimento e oposição (LGPD Art. 18). Reclamações: ANPD (gov.br/anpd) e Procon/consumidor.gov.br.",
    },
    "en": {
        "title": "Access information (GDPR Art. 15) and complete declaration (LGPD Art. 19 II)",
        "protocol": "Protocol",
        "found": "We found data about you in these systems",
        "none": "We found no record about you in the connected systems.",
        "purposes": "Purposes",
        "categories": "Categories of data",
        "recipients": "Recipients",
        "retention": "How long we keep it",
        "origin": "Where the data came from",
        "criteria": "Criteria",
        "criteria_text": "Profiles are unified by deterministic rules (tax id, email, phone, source system ids); no"
        " solely automated decision is taken with them.",
        "rights": "Your rights: rectification, erasure, restriction, portability, objection, withdrawal of"
        " consent (GDPR Arts. 16-21). You may complain to a supervisory authority (Art. 77).",
    },
    "es": {
        "title": "Información de acceso (RGPD Art. 15) y declaración completa (LGPD Art. 19 II)",
        "protocol": "Protocolo",
        "found": "Encontramos datos suyos en estos sistemas",
        "none": "No encontramos ningún registro suyo en los sistemas conectados.",
        "purposes": "Finalidades",
        "categories": "Categorías de datos",
        "recipients": "Destinatarios",
        "retention": "Plazo de conservación",
        "origin": "Origen de los datos",
        "criteria": "Criterios",
        "criteria_text": "Los perfiles se unifican con reglas deterministas (documento, correo, teléfono,"
        " identificadores de origen); no se toman decisiones exclusivamente automatizadas.",
        "rights": "Sus derechos: rectificación, supresión, limitación, portabilidad, oposición y retirada del"
        " consentimiento. Puede reclamar ante una autoridad de control.",
    },
}


def sealed_file_write(path: Path, content: bytes, *, data_key: DataKey, context: bytes) -> None:
    """Write ``content`` encrypted at rest (``encrypt_stream`` chunks bound to ``context``).

    Written to a ``.partial`` file then renamed, so a crash never leaves a cut file under the final name.
    Packages and the requester's documents are stored this way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        for chunk in encrypt_stream([content], data_key, context=context):
            handle.write(chunk)
    partial.replace(path)


def sealed_file_read(path: Path, *, data_key: DataKey, context: bytes) -> bytes:
    """The clear bytes of a file written by ``sealed_file_write``; DecryptionError if it was altered."""
    with path.open("rb") as handle:
        return b"".join(decrypt_stream(handle.read, data_key, context=context))


def _directory() -> Path:
    directory = Path(settings.C360_FILES_DIR) / "packages"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _path(package: ExportPackage) -> Path:
    return _directory() / f"{package.id}.zip.enc"


def _holder(package: ExportPackage) -> WrappedKey:
    wrapped = bytes(package.wrapped_key) if package.wrapped_key is not None else None
    return WrappedKey(wrapped, package.kek_version, package.key_context())


def _summary(request: DataRequest, per_source: dict[str, list[dict[str, Any]]], tasks: list[RequestTask]) -> str:
    text = SUMMARY_TEXT.get(request.language, SUMMARY_TEXT["en"])
    purposes_by_code = {
        purpose.code: purpose.names.get(request.language) or purpose.names.get("en") or purpose.code
        for purpose in Purpose.objects.all()
    }
    consent_purposes = {
        record["fields"].get("purpose")
        for records in per_source.values()
        for record in records
        if record["collection"] == "consents"
    }
    lines = [text["title"], "", f"{text['protocol']}: {request.protocol}", ""]
    found = [task for task in tasks if per_source.get(task.source.code)]
    if not found:
        lines += [text["none"], ""]
    else:
        lines += [f"{text['found']}:"]
        lines += [f"- {task.source.name}: {len(per_source[task.source.code])}" for task in found]
        lines.append("")
    sections = (
        (
            "purposes",
            sorted(
                {
                    *(p for task in found for p in task.source.purposes),
                    *(purposes_by_code.get(code, code) for code in consent_purposes if code and code != "*"),
                }
            ),
        ),
        (
            "categories",
            sorted(
                {
                    category
                    for records in per_source.values()
                    for record in records
                    for category in record["categories"].values()
                }
            ),
        ),
        ("recipients", sorted({recipient for task in found for recipient in task.source.recipients})),
        ("retention", [f"{task.source.name}: {task.source.retention}" for task in found if task.source.retention]),
        (
            "origin",
            sorted({record["provenance"].split("/")[0] for records in per_source.values() for record in records}),
        ),
    )
    for key, values in sections:
        lines.append(f"{text[key]}:")
        lines += [f"- {value}" for value in values] or ["- —"]
        lines.append("")
    lines += [f"{text['criteria']}: {text['criteria_text']}", "", text["rights"], ""]
    return "\n".join(lines)


def _csv(per_source: dict[str, list[dict[str, Any]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["source", "collection", "provenance", "field", "category", "value"])
    for source, records in per_source.items():
        for record in records:
            for name, value in record["fields"].items():
                shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
                writer.writerow(
                    [
                        source,
                        record["collection"],
                        record["provenance"],
                        name,
                        record["categories"].get(name, ""),
                        shown,
                    ]
                )
    return buffer.getvalue()


@transaction.atomic
def package_build(*, request_id: uuid.UUID | str) -> ExportPackage:
    """Assemble, sign and encrypt the package of a request whose export tasks are all done. Idempotent."""
    failpoint("dsar.package.start")
    request = DataRequest.objects.select_for_update().get(pk=request_id)
    existing = ExportPackage.objects.filter(request=request).first()
    if existing is not None:
        return existing
    tasks = list(request.tasks.select_related("source").order_by("source__code"))
    if request.operation != "export" or any(task.status != RequestTask.Status.DONE for task in tasks):
        raise Conflict("Every source must have answered an access request first.", code="not_ready")
    per_source = {task.source.code: load_export(task) for task in tasks if task.export_wrapped_key is not None}
    files: dict[str, bytes] = {
        f"sources/{code}.json": json.dumps(records, ensure_ascii=False, indent=2).encode()
        for code, records in per_source.items()
    }
    files["data.csv"] = _csv(per_source).encode()
    files[f"summary.{request.language}.txt"] = _summary(request, per_source, tasks).encode()
    now = timezone.now()
    manifest = {
        "request": request.protocol,
        "type": request.request_type,
        "regimes": request.regimes,
        "created_at": now.isoformat(),
        "files": [
            {"name": name, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            for name, content in sorted(files.items())
        ],
    }
    package = ExportPackage(
        id=uuid.uuid4(), request=request, created_at=now, manifest=manifest, signature=sign(manifest)
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        archive.writestr("manifest.sig", package.signature)
    holder = _holder(package)
    data_key = data_key_create(holder)
    package.wrapped_key, package.kek_version = holder.wrapped_dek, holder.kek_version
    sealed_file_write(_path(package), buffer.getvalue(), data_key=data_key, context=holder.key_context())
    failpoint("dsar.package.written")  # a crash here leaves a file no key can open: the next build writes anew
    system = Actor.system("dsar-packages")
    package.save(force_insert=True)
    with acting_as(system):
        _event(request, system, "package", note=f"{len(files)} file(s), manifest signed")
    # The person proved the contact point they filed from, asked for themselves and for a download:
    # the answer is theirs at once (C360_DSAR_AUTO_RELEASE); anything else waits for the DPO.
    request_release_automatically(request_id=request.id)
    transaction.on_commit(lambda: failpoint("dsar.package.committed"))
    return package


@transaction.atomic
def package_link_issue(*, request_id: uuid.UUID | str, actor: Actor) -> str:
    """A new single-use download token (only its hash is stored); any earlier link stops working."""
    package = ExportPackage.objects.select_for_update().filter(request_id=request_id).first()
    if package is None:
        raise NotFound("The request has no package yet.")
    if package.downloaded_at is not None:
        raise Gone("The package was already downloaded; build a new request to get another copy.")
    token = secrets.token_urlsafe(32)
    package.token_sha256 = hashlib.sha256(token.encode()).hexdigest()
    package.link_expires_at = timezone.now() + settings.C360_DSAR_LINK_LIFETIME
    package.save(update_fields=["token_sha256", "link_expires_at"])
    with acting_as(actor):
        _event(package.request, actor, "package_link", note=f"expires {package.link_expires_at.isoformat()}")
    return token


@transaction.atomic
def package_download(*, token: str, actor: Actor) -> tuple[ExportPackage, bytes]:
    """The decrypted zip, once: the token is spent in the same transaction."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    package = ExportPackage.objects.select_for_update().select_related("request").filter(token_sha256=digest).first()
    if package is None:
        raise NotFound("This link is not valid.")
    if package.downloaded_at is not None:
        raise Gone("This link was already used.", code="link_used")
    if package.link_expires_at is None or package.link_expires_at < timezone.now():
        raise Gone("This link has expired; ask for a new one.", code="link_expired")
    holder = _holder(package)
    content = sealed_file_read(_path(package), data_key=data_key_open(holder), context=holder.key_context())
    package.downloaded_at = timezone.now()  # the hash stays, so a second use is told "already used"
    package.save(update_fields=["downloaded_at"])
    with acting_as(actor):
        _event(package.request, actor, "package_downloaded", note="single-use link spent")
    return package, content


@transaction.atomic
def package_download_by_requester(*, request_id: uuid.UUID | str, actor: Actor) -> tuple[ExportPackage, bytes]:
    """The requester's own download from the portal: a link issued and spent in one transaction.

    The token never leaves this function (it is never shown, mailed or put in a URL). Only an answered
    (completed) request's package is handed out, once; a second call raises ``Gone``.
    """
    request = DataRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("No request has that id.")
    if request.status != DataRequest.Status.COMPLETED:
        raise Conflict("The answer has not been released yet.", code="not_released")
    token = package_link_issue(request_id=request_id, actor=actor)
    return package_download(token=token, actor=actor)
