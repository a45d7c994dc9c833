from django.db import migrations

# Beside the index of a unique or indexed text field PostgreSQL gets a second one, with
# varchar_pattern_ops, for LIKE 'prefix%'. No query searches these fields by prefix, so
# it only cost a write per row: dropped (SQLite has none). Should the field change later,
# Django's schema editor drops it with IF EXISTS.
INDEXES = [
    ("learning_pointscursor", "learning_pointscursor_name_280b5f41_like", "name"),
]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for _table, name, _column in INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, name, column in INDEXES:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}" varchar_pattern_ops)'
            )


class Migration(migrations.Migration):
    dependencies = [("learning", "0005_fk_indexes_covered")]

    operations = [migrations.RunPython(drop, create, elidable=True)]
