from django.core.management.base import BaseCommand

from gonghui.orgs.demo import demo_account_lines


class Command(BaseCommand):
    help = "Print the demo accounts and their passwords."

    def handle(self, *args, **options):
        lines = list(demo_account_lines())
        if not lines:
            self.stdout.write("No demo accounts; run `gonghui demo` first.")
            return
        self.stdout.write("Demo accounts (user name, password, who):")
        for line in lines:
            self.stdout.write(line)
        self.stdout.write("Open http://127.0.0.1:8000 and sign in.")
