from django.db import migrations

from gonghui.core.schema import drop_pattern_indexes

# No query searches these fields by prefix: their LIKE indexes only cost a write per row.


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_fk_indexes_covered")]

    operations = [
        drop_pattern_indexes(
            ("cases_case", "cases_case_number_980c9551_like", "number"),
            ("cases_categorypolicy", "cases_categorypolicy_category_915fcc5d_like", "category"),
        )
    ]
