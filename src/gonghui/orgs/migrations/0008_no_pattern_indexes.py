from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("orgs", "0007_id_number_hash_shortened")]

    operations = [
        drop_pattern_indexes(
            ("orgs_org", "orgs_org_code_aa21bd1c_like", "code"),
        )
    ]
