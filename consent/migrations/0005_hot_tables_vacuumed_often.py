from django.db import migrations

from c360.lib.db import vacuumed_often


class Migration(migrations.Migration):
    """The check reads the projection and suppressions by index on every call; the ledger only grows."""

    dependencies = [("consent", "0004_ledger_verification")]

    operations = [vacuumed_often("consent_consentstate", "consent_consentevent", "consent_suppression")]
