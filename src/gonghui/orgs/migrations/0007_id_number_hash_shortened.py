from django.db import migrations
from django.db.models.functions import Left, Length

# A member's ID number lookup hash keeps the first 32 hex digits of its HMAC
# (orgs.identity.ID_HASH_LENGTH): the stored hashes are cut to match. Each is the prefix of
# a distinct 256-bit HMAC, so they stay distinct. Back: the full HMAC again, from the
# encrypted number.


def shorten(apps, schema_editor):
    Member = apps.get_model("orgs", "Member")
    Member.objects.annotate(n=Length("id_number_hash")).filter(n__gt=32).update(
        id_number_hash=Left("id_number_hash", 32)
    )


def lengthen(apps, schema_editor):
    from gonghui.orgs.identity import decrypt_id_number, full_id_number_hash

    Member = apps.get_model("orgs", "Member")
    short = Member.objects.annotate(n=Length("id_number_hash")).filter(n__lte=32)
    batch = []
    for member in short.only("pk", "id_number_cipher").iterator(chunk_size=2000):
        member.id_number_hash = full_id_number_hash(decrypt_id_number(member.id_number_cipher))
        batch.append(member)
        if len(batch) >= 2000:
            Member.objects.bulk_update(batch, ["id_number_hash"])
            batch = []
    Member.objects.bulk_update(batch, ["id_number_hash"])


class Migration(migrations.Migration):
    dependencies = [("orgs", "0006_fk_indexes_covered")]

    operations = [migrations.RunPython(shorten, lengthen, elidable=True)]
