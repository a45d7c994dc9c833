from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from gonghui.audit.selectors import audit_entries_for
from gonghui.orgs import scoping
from gonghui.orgs.models import Org
from gonghui.orgs.scoping import Perm, get_in_scope_or_404


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    if not scoping.has_any(request.user, Perm.AUDIT_VIEW):
        raise Http404
    org = None
    if request.GET.get("org", "").isdigit():
        org = get_in_scope_or_404(
            Org.objects.all(), request.user, Perm.AUDIT_VIEW, pk=int(request.GET["org"])
        )
    query = request.GET.get("q", "").strip()
    entries = audit_entries_for(request.user, org=org, query=query)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "audit/audit_list.html", {"page": page, "org": org, "query": query})
