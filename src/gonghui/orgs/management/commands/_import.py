"""Shared body of import_orgs and import_members."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gonghui.orgs.importing import run_import
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import SYSTEM


class ImportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("file", help=".xlsx or .csv")
        parser.add_argument(
            "--org", help="code of the union whose subtree receives the rows (default: root)"
        )

    def handle(self, *args, file, org, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file {file}.")
        root = (
            Org.objects.filter(code=org).first()
            if org
            else Org.objects.filter(parent__isnull=True).order_by("pk").first()
        )
        if root is None:
            raise CommandError("No such union; load or create the tree first.")
        with path.open("rb") as stream:
            job = run_import(
                actor=SYSTEM, org=root, kind=self.kind, upload=stream, file_name=path.name
            )
        if job.succeeded:
            self.stdout.write(
                f"Imported {job.imported_rows} of {job.total_rows} rows "
                f"in {job.duration_ms / 1000:.1f} s."
            )
            return
        if job.file_error:
            raise CommandError(job.file_error)
        for error in job.errors:
            self.stderr.write(f"row {error['row']}: {'；'.join(error['reasons'])}")
        if job.error_count > len(job.errors):
            self.stderr.write(f"... {job.error_count - len(job.errors)} more")
        raise CommandError(
            f"Nothing imported: {job.error_count} of {job.total_rows} rows have errors"
            + (f" (all listed in {job.errors_file.path})" if job.errors_file else "")
            + "."
        )
