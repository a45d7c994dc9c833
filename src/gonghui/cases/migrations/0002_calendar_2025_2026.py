"""The published working-day calendars for 2025 and 2026 (holidays and make-up
workdays); later years are set in the back office or with `gonghui load_calendar`."""

from django.db import migrations


def load(apps, schema_editor):
    from gonghui.cases.workdays import read_calendar_file

    day_model = apps.get_model("cases", "WorkCalendarDay")
    for year, days in read_calendar_file().items():
        if day_model.objects.filter(day__year=year).exists():
            continue
        day_model.objects.bulk_create([day_model(day=d, is_workday=w, note=n) for d, w, n in days])


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
