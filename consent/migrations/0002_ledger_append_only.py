from django.db import migrations

from c360.lib.db import append_only


class Migration(migrations.Migration):
    """The ledger is evidence: the database refuses to change or delete an event (PostgreSQL and SQLite)."""

    dependencies = [("consent", "0001_initial")]

    operations = [append_only("consent_consentevent")]
