from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("learning", "0005_fk_indexes_covered")]

    operations = [
        drop_pattern_indexes(
            ("learning_pointscursor", "learning_pointscursor_name_280b5f41_like", "name"),
        )
    ]
