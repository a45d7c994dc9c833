from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
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


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The signed-in user's messages (reminders, decisions on reports). Opening one marks
    it read and follows its link; "mark all as read" clears the rest."""
    from django.core.paginator import Paginator
    from django.utils import timezone
    from django.utils.http import url_has_allowed_host_and_scheme

    from gonghui.accounts.models import Notification

    mine = Notification.objects.filter(user=request.user)
    if request.method == "POST":
        now = timezone.now()
        opened = request.POST.get("open", "")
        if opened.isdigit():
            item = mine.filter(pk=int(opened)).first()
            if item is None:
                raise Http404
            mine.filter(pk=item.pk, read_at__isnull=True).update(read_at=now)
            if item.link and url_has_allowed_host_and_scheme(
                item.link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return redirect(item.link)
        elif request.POST.get("all") == "read":
            mine.filter(read_at__isnull=True).update(read_at=now)
        return redirect("notifications")
    page = Paginator(mine, 30).get_page(request.GET.get("page"))
    unread = mine.filter(read_at__isnull=True).count()
    return render(request, "accounts/notifications.html", {"page": page, "unread": unread})


@login_required
def notification_count(request: HttpRequest) -> HttpResponse:
    """The unread count shown next to the header link (loaded by htmx)."""
    from gonghui.accounts.models import Notification

    unread = Notification.objects.filter(user=request.user, read_at__isnull=True).count()
    return HttpResponse(f'<span class="count">{unread}</span>' if unread else "")
