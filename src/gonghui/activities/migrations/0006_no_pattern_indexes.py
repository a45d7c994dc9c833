from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("activities", "0005_fk_indexes_covered")]

    operations = [
        drop_pattern_indexes(
            ("activities_activity", "activities_activity_check_in_code_0b4aa279_like", "check_in_code"),
        )
    ]
