from django.db import migrations

from c360.lib.db import vacuumed_often


class Migration(migrations.Migration):
    """Every consent check finds its recipient through identifiers and subjects; erasures rewrite both."""

    dependencies = [("profiles", "0005_portal_login")]

    operations = [vacuumed_often("profiles_identifier", "profiles_subject", "profiles_subjectkey")]
