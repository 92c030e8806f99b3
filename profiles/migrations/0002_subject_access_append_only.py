from django.db import migrations

from c360.lib.db import append_only


class Migration(migrations.Migration):
    """The access log is evidence: the database refuses to change or delete it."""

    dependencies = [("profiles", "0001_initial")]

    operations = [append_only("profiles_subjectaccess")]
