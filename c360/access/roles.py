"""Staff roles of the DPO console: one Django group per role, and the permissions each holds.

The mapping lives here and nowhere else. Each role is computed from the permissions that exist, so a model
added later is covered without touching this file: the auditor sees it (``view_*``), the DPO may do
everything with it, and the other roles get only what is listed for them by name. ``roles_sync`` runs after
every ``migrate`` (see ``AccessConfig.ready``) and makes each group hold exactly its role's permissions.

LEGAL S-03 (least privilege, MFA for the console) and E-04 (the DPO reads everywhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, transaction

REVEAL_SUBJECT = "profiles.reveal_subject"

# Models whose rows are second factors: reading one is enough to pass 2FA as its owner. Only the DPO, who
# enrols staff, sees them; the ``view_*`` of the other roles skips them.
SECRET_MODELS = frozenset({"otp_totp.totpdevice", "otp_static.staticdevice", "otp_static.statictoken"})

# The purpose catalogue (what people are asked and told) and the sources of data.
CATALOGUE_AND_SOURCES = frozenset(
    {
        "consent.add_purpose",
        "consent.change_purpose",
        "consent.add_notice",
        "consent.change_notice",
        "consent.add_noticeversion",
        "consent.change_noticeversion",
        "profiles.add_source",
        "profiles.change_source",
        "dsar.add_datasource",
        "dsar.change_datasource",
    }
)
# Working requests: verify, accept the proof of authority, retry failed sources, complete, reject.
REQUEST_WORK = frozenset({"dsar.change_datarequest", "dsar.change_requesttask"})
# Filing a request and reading requests and (masked) subjects.
REQUEST_DESK = frozenset(
    {
        "dsar.add_datarequest",
        "dsar.view_datarequest",
        "dsar.view_requestevent",
        "dsar.view_requesttask",
        "profiles.view_subject",
    }
)


def _model_of(permission: str) -> str:
    """``"app.view_thing"`` -> ``"app.thing"`` (Django's default codenames are ``<action>_<model>``)."""
    app_label, _, codename = permission.partition(".")
    return f"{app_label}.{codename.partition('_')[2]}"


def _views(available: frozenset[str]) -> frozenset[str]:
    return frozenset(
        permission
        for permission in available
        if permission.partition(".")[2].startswith("view_") and _model_of(permission) not in SECRET_MODELS
    )


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    grants: Callable[[frozenset[str]], frozenset[str]]

    def permissions(self, available: Iterable[str]) -> frozenset[str]:
        """The ``app_label.codename`` permissions of this role, among those that exist."""
        existing = frozenset(available)
        return self.grants(existing) & existing


DPO = Role(
    "DPO",
    "Everything in the console: every model where its admin allows it, reveal, requests, API keys, staff 2FA.",
    lambda available: available,
)
PRIVACY_ANALYST = Role(
    "Privacy analyst",
    "Reads everything, works requests, edits the purpose catalogue and sources, reveals with a reason; "
    "no API keys, never deletes.",
    lambda available: _views(available) | REQUEST_WORK | CATALOGUE_AND_SOURCES | {REVEAL_SUBJECT},
)
SUPPORT_AGENT = Role(
    "Support agent",
    "Files requests and reads requests and masked subjects; no reveal, no decisions on requests.",
    lambda available: REQUEST_DESK,
)
AUDITOR = Role(
    "Auditor",
    "Reads everything, history and access logs included; changes nothing and reveals nothing.",
    _views,
)

ROLES: tuple[Role, ...] = (DPO, PRIVACY_ANALYST, SUPPORT_AGENT, AUDITOR)


def available_permissions() -> frozenset[str]:
    from django.contrib.auth.models import Permission

    return frozenset(
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.values_list("content_type__app_label", "codename")
    )


def role_permissions(role: Role) -> frozenset[str]:
    return role.permissions(available_permissions())


def roles_sync(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create every model's permissions, then make each role's group hold exactly its permissions.

    Idempotent; returns the number of permissions per group.
    """
    from django.contrib.auth.models import Group, Permission

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=global_apps)
    by_name = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    counts = {}
    with transaction.atomic(using=using):
        for role in ROLES:
            group, _ = Group.objects.using(using).get_or_create(name=role.name)
            wanted = sorted(by_name[permission] for permission in role.permissions(by_name))
            group.permissions.set(wanted)
            counts[role.name] = len(wanted)
    return counts


def roles_sync_after_migrate(sender: object, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """post_migrate receiver (for this app only, so once per ``migrate`` or flush), after every migration ran.

    It runs even when nothing was migrated: new code may have brought new permissions."""
    roles_sync(using=using)
