from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_fk_indexes_covered")]

    operations = [
        drop_pattern_indexes(
            ("accounts_apitoken", "accounts_apitoken_key_hash_f9a7d03c_like", "key_hash"),
        )
    ]
