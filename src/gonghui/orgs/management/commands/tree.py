import json

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from gonghui.orgs import selectors
from gonghui.orgs.models import Org, OrgKind
from gonghui.orgs.scoping import SYSTEM


class Command(BaseCommand):
    help = "Print a subtree with each union's kind and the member count of its subtree."

    def add_arguments(self, parser):
        parser.add_argument("org", nargs="?", help="code, id or exact name (default: the root)")
        parser.add_argument("--depth", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="nested JSON objects")

    def handle(self, *args, org, depth, json: bool, **options):
        node = self._find(org)
        try:
            tree = selectors.subtree_as_tree(node, SYSTEM, depth=max(depth, 0))
        except Http404:  # the union itself is dissolved
            raise CommandError(f"{node.name} is dissolved.") from None
        if json:
            self.stdout.write(_json_dumps(tree))
            return
        self._print(tree, 0)

    def _find(self, ref):
        if ref is None:
            found = Org.objects.filter(parent__isnull=True).order_by("pk").first()
        else:
            found = (
                Org.objects.filter(code=ref).first()
                or (Org.objects.filter(pk=int(ref)).first() if ref.isdigit() else None)
                or Org.objects.filter(name=ref).first()
            )
        if found is None:
            raise CommandError(f"No union {ref!r}.")
        return found

    def _print(self, node, level):
        kind = OrgKind(node["kind"]).label
        self.stdout.write(f"{'  ' * level}{node['name']} [{kind}] {node['member_count']}")
        for child in node["children"]:
            self._print(child, level + 1)


def _json_dumps(tree):
    def strip(node):
        return {
            "name": node["name"],
            "kind": node["kind"],
            "member_count": node["member_count"],
            "children": [strip(c) for c in node["children"]],
        }

    return json.dumps(strip(tree), ensure_ascii=False, indent=2)
