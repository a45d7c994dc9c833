from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from gonghui.orgs import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Cadres land on their union; workers on their own page."""
    org = selectors.primary_org(request.user)
    if org is not None:
        return redirect("org_detail", org_id=org.pk)
    return redirect("me")


@login_required
def me(request: HttpRequest) -> HttpResponse:
    member = getattr(request.user, "member", None) if hasattr(request.user, "member") else None
    trail = selectors.breadcrumb(member.unit) if member else []
    return render(request, "accounts/me.html", {"member": member, "trail": trail})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "core/form_page.html"
    success_url = "/"

    def get_context_data(self, **kwargs):
        from django.utils.translation import gettext as _

        context = super().get_context_data(**kwargs)
        context["title"] = _("Change password")
        return context
