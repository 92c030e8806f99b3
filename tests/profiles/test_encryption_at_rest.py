"""The subject store against the database: ciphertext at rest, tamper detection, rotation, shredding."""

from __future__ import annotations

import base64

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from c360.lib.crypto import DecryptionError, Keyring, KeyShreddedError, data_key_open, generate_key
from c360.lib.history import Actor
from profiles.encryption import unseal
from profiles.models import Identifier, Subject, SubjectAccess, SubjectKey
from profiles.services.subjects import subject_erase, subject_reveal
from tests.factories import SubjectFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")
TEST_KEY_V1 = "1:oHU1wBN0IdKC9Xqb3DuQKDl7dtzUGYRimqv4eroFEAg="


def reveal(subject: Subject) -> dict:
    return subject_reveal(subject_id=subject.id, actor=ACTOR, reason="test: read back").attributes


def raw_row(table: str, column: str, row_id: object) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE id = %s",
            [row_id.hex if connection.vendor == "sqlite" else row_id],
        )
        return bytes(cursor.fetchone()[0])


def test_personal_data_is_stored_as_ciphertext_only():
    subject = SubjectFactory()
    person = subject.person

    stored = raw_row("profiles_subject", "given_name_enc", subject.id)
    assert person.attributes["given_name"].encode() not in stored
    identifier = subject.identifiers.get(kind="email")
    assert person.email.lower().encode() not in raw_row("profiles_identifier", "value_enc", identifier.id)
    assert reveal(subject)["given_name"] == person.attributes["given_name"]


def test_history_rows_hold_ciphertext_and_the_actor():
    subject = SubjectFactory()

    history = subject.history.get()
    assert history.history_actor == "system:tests"
    assert history.history_type == "+"
    assert bytes(history.given_name_enc) == bytes(subject.given_name_enc)
    assert subject.person.attributes["given_name"].encode() not in bytes(history.given_name_enc)
    # A historical row opens with the live subject's key: it is bound to the original table and row.
    data_key = data_key_open(subject.key)
    assert unseal(data_key, history, "given_name") == subject.person.attributes["given_name"]
    assert not hasattr(Identifier.history.model, "blind_index")


def test_a_flipped_byte_in_a_stored_field_fails_loudly():
    subject = SubjectFactory()
    tampered = bytearray(subject.given_name_enc)
    tampered[-1] ^= 0xFF
    Subject.objects.filter(pk=subject.pk).update(given_name_enc=bytes(tampered))

    with pytest.raises(DecryptionError):
        reveal(subject)
    assert not SubjectAccess.objects.filter(subject=subject).exists()  # nothing revealed, nothing logged


def test_a_field_swapped_between_two_subjects_fails():
    first, second = SubjectFactory(), SubjectFactory()
    Subject.objects.filter(pk=second.pk).update(given_name_enc=first.given_name_enc)

    with pytest.raises(DecryptionError):
        reveal(second)


def test_a_ciphertext_moved_to_another_field_of_the_same_subject_fails():
    subject = SubjectFactory()
    Subject.objects.filter(pk=subject.pk).update(family_name_enc=subject.given_name_enc)

    with pytest.raises(DecryptionError):
        reveal(subject)


def test_identifier_values_swapped_between_rows_of_one_subject_fail():
    subject = SubjectFactory()
    email, phone = subject.identifiers.get(kind="email"), subject.identifiers.get(kind="phone")
    Identifier.objects.filter(pk=email.pk).update(value_enc=phone.value_enc)

    with pytest.raises(DecryptionError):
        reveal(subject)


def test_a_wrapped_data_key_moved_to_another_subject_fails():
    first, second = SubjectFactory(), SubjectFactory()
    SubjectKey.objects.filter(pk=second.pk).update(wrapped_dek=first.key.wrapped_dek)

    with pytest.raises(DecryptionError):
        reveal(Subject.objects.get(pk=second.pk))


def test_rotation_rewraps_every_key_in_resumable_batches_and_old_data_still_decrypts(capsys):
    subjects = [SubjectFactory() for _ in range(7)]
    new_key = generate_key()
    rotated = Keyring.parse(f"{TEST_KEY_V1},2:{new_key}")

    with override_settings(C360_KEYRING=rotated):
        # An interrupted run (--limit) re-wraps part of the keys and says how to resume.
        call_command("rotate_keys", "--batch-size", "2", "--limit", "3")
        assert SubjectKey.objects.filter(kek_version=2).count() == 3
        assert "run rotate_keys again to resume" in capsys.readouterr().out

        call_command("rotate_keys", "--batch-size", "2")
        assert SubjectKey.objects.filter(kek_version=2).count() == 7
        assert "every data key is under version 2" in capsys.readouterr().out
        fresh = SubjectFactory()
        assert SubjectKey.objects.get(pk=fresh.pk).kek_version == 2

    # Version 1 can now leave the keyring: everything still decrypts under version 2 alone.
    with override_settings(C360_KEYRING=Keyring.parse(f"2:{new_key}")):
        for subject in subjects:
            assert reveal(subject)["family_name"] == subject.person.attributes["family_name"]


def test_rotation_without_the_old_version_in_the_keyring_fails_clearly():
    SubjectFactory()
    with (
        override_settings(C360_KEYRING=Keyring.parse(f"3:{generate_key()}")),
        pytest.raises(CommandError, match="key version 1 is not in C360_KEYRING"),
    ):
        call_command("rotate_keys")

    assert SubjectKey.objects.filter(kek_version=1).count() == 1


def test_erasure_shreds_the_key_so_rows_and_history_are_unreadable():
    subject = SubjectFactory()
    old_blob = bytes(subject.key.wrapped_dek)
    history_before = list(subject.history.all())

    outcome = subject_erase(subject_id=subject.id, actor=ACTOR, reason="dsar 2026-0001")

    assert outcome.already_erased is False
    assert outcome.identifiers_deleted == 3
    subject_key = SubjectKey.objects.get(pk=subject.pk)
    assert subject_key.wrapped_dek is None
    assert subject_key.shredded_at is not None
    assert not hasattr(SubjectKey, "history")  # no copy of the wrapped key survives anywhere
    tombstone = Subject.objects.get(pk=subject.pk)
    assert tombstone.status == Subject.Status.ERASED
    assert all(getattr(tombstone, f"{name}_enc") is None for name in ("given_name", "family_name", "address"))
    assert not Identifier.objects.filter(subject_id=subject.pk).exists()
    with pytest.raises(KeyShreddedError):
        data_key_open(subject_key)
    # History rows keep the old ciphertext, but nothing can open it any more.
    for row in history_before:
        assert row.given_name_enc is not None
        with pytest.raises(KeyShreddedError):
            unseal(data_key_open(SubjectKey.objects.get(pk=subject.pk)), row, "given_name")
    assert old_blob not in {bytes(key.wrapped_dek) for key in SubjectKey.objects.exclude(wrapped_dek=None)}


def test_erasure_is_idempotent():
    subject = SubjectFactory()
    first = subject_erase(subject_id=subject.id, actor=ACTOR, reason="dsar 2026-0001")
    history_count = Subject.history.filter(id=subject.id).count()

    second = subject_erase(subject_id=subject.id, actor=ACTOR, reason="dsar 2026-0001")

    assert second.already_erased is True
    assert second.erased_at == first.erased_at
    assert Subject.history.filter(id=subject.id).count() == history_count


def test_the_access_log_refuses_update_and_delete_at_the_database():
    subject = SubjectFactory()
    reveal(subject)
    access = SubjectAccess.objects.get(subject=subject)

    with pytest.raises(DatabaseError), transaction.atomic():
        SubjectAccess.objects.filter(pk=access.pk).update(reason="covering tracks")
    with pytest.raises(DatabaseError), transaction.atomic():
        SubjectAccess.objects.filter(pk=access.pk).delete()
    assert SubjectAccess.objects.get(pk=access.pk).reason == "test: read back"


def test_keyring_fixture_matches_test_settings():
    # Guards the constant above: rotation tests must extend the real test keyring.
    from django.conf import settings

    assert settings.C360_KEYRING.keys[1] == base64.urlsafe_b64decode(TEST_KEY_V1.split(":", 1)[1])


def test_rotation_reaches_every_holder_of_a_wrapped_key(settings, tmp_path, django_capture_on_commit_callbacks):
    """Requests, portal sign-ins, DSAR exports and packages are rotated too: after rotate_keys the old KEK
    can leave the keyring and an access package still opens."""
    from c360.lib import rotation
    from dsar.models import DataSource, ExportPackage, RequestKey
    from dsar.services.packages import package_download, package_link_issue
    from dsar.services.requests import request_complete, request_create, request_verify

    settings.C360_FILES_DIR = tmp_path
    subject = SubjectFactory()
    DataSource.objects.create(code="c360", name="c360", kind="c360")
    staff = Actor.system("tests")
    request = request_create(
        request_type="access",
        regimes=["lgpd"],
        intake_channel="email",
        identities=[{"kind": "email", "value": subject.person.email}],
        actor=staff,
    )
    with django_capture_on_commit_callbacks(execute=True):  # the source tasks and the package run on commit
        request_verify(request_id=request.id, method="staff", verified=True, actor=staff)
    request_complete(request_id=request.id, actor=staff)
    assert ExportPackage.objects.filter(request=request).exists()

    new_key = generate_key()
    with override_settings(C360_KEYRING=Keyring.parse(f"{TEST_KEY_V1},2:{new_key}")):
        stale = rotation.pending()
        assert {"profiles.subjectkey.wrapped_dek", "dsar.requestkey.wrapped_dek"} <= set(stale)
        assert "dsar.exportpackage.wrapped_key" in stale
        assert "dsar.requesttask.export_wrapped_key" in stale
        call_command("rotate_keys", "--batch-size", "1")
        assert rotation.pending() == {}

    with override_settings(C360_KEYRING=Keyring.parse(f"2:{new_key}")):
        assert RequestKey.objects.get(pk=request.pk).kek_version == 2
        token = package_link_issue(request_id=request.id, actor=staff)
        _, content = package_download(token=token, actor=staff)
        assert content.startswith(b"PK")


def test_erasures_are_replayed_from_the_log_after_a_restore(tmp_path, caplog):
    """A backup restored to before an erasure brings the person's key back: the log names who to erase again."""
    import io
    import logging

    from profiles.models import SubjectKey as Key

    kept, erased = SubjectFactory(), SubjectFactory()
    wrapped = bytes(Key.objects.get(pk=erased.pk).wrapped_dek)
    with caplog.at_level(logging.INFO, logger="profiles.services.subjects"):
        subject_erase(subject_id=erased.id, actor=Actor.system("tests"), reason="dsar 2026-000009")
    log = tmp_path / "app.log"
    log.write_text("\n".join(record.getMessage() for record in caplog.records), encoding="utf-8")
    # "Restore": the erased person is back with their key, as in a backup taken before the erasure.
    Subject.objects.filter(pk=erased.pk).update(status=Subject.Status.ACTIVE, erased_at=None)
    Key.objects.filter(pk=erased.pk).update(wrapped_dek=wrapped, shredded_at=None, kek_version=1)

    out = io.StringIO()
    call_command("replay_erasures", str(log), stdout=out)

    assert "Erased again: 1; already erased: 0" in out.getvalue()
    assert Key.objects.get(pk=erased.pk).wrapped_dek is None
    assert Key.objects.get(pk=kept.pk).wrapped_dek is not None
    out = io.StringIO()
    call_command("replay_erasures", str(log), stdout=out)  # twice: nothing more happens
    assert "Erased again: 0; already erased: 1" in out.getvalue()
