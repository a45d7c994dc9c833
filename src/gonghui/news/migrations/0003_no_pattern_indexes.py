from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("news", "0002_fk_indexes_covered")]

    operations = [
        drop_pattern_indexes(
            ("news_channel", "news_channel_code_c9bd54e1_like", "code"),
        )
    ]
