from gonghui.orgs.management.commands._import import ImportCommand
from gonghui.orgs.models import ImportJob


class Command(ImportCommand):
    help = "Import members from .xlsx or .csv (all rows or none)."
    kind = ImportJob.Kind.MEMBERS
