"""Pages of the union tree, members, transfers, roles, imports and exports.

Each view fetches what it shows through the scoping filter (anything outside the user's
scope is a 404), calls one service for a change, and renders. Input is kept on errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.accounts import services as account_services
from gonghui.core.forms import add_service_error
from gonghui.core.xlsx import xlsx_response
from gonghui.orgs import exports, importing, scoping, selectors, services
from gonghui.orgs.forms import (
    DecisionForm,
    ImportForm,
    MemberEditForm,
    MemberForm,
    MemberLeaveForm,
    OrgDissolveForm,
    OrgEditForm,
    OrgForm,
    OrgMoveForm,
    RoleGrantForm,
    TransferForm,
    WorkerAccountForm,
)
from gonghui.orgs.models import (
    ALLOWED_CHILD_KINDS,
    ImportJob,
    Member,
    MemberTransfer,
    Org,
    Role,
)
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PAGE_SIZE = 50


def _org(request: HttpRequest, org_id: int, perm: str = Perm.ORG_VIEW) -> Org:
    org = get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )
    if perm != Perm.ORG_VIEW:
        scoping.require(request.user, perm, org)
    return org


def _member(request: HttpRequest, member_id: int, perm: str = Perm.MEMBER_VIEW) -> Member:
    member = get_in_scope_or_404(
        Member.objects.select_related("unit", "user"), request.user, Perm.MEMBER_VIEW, pk=member_id
    )
    if perm != Perm.MEMBER_VIEW:
        scoping.require(request.user, perm, member.unit)
    return member


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _perms(user: Any, org: Org) -> dict[str, bool]:
    return {
        "can_change_org": scoping.can(user, Perm.ORG_CHANGE, org),
        "can_view_members": scoping.can(user, Perm.MEMBER_VIEW, org),
        "can_change_members": scoping.can(user, Perm.MEMBER_CHANGE, org),
        "can_manage_roles": scoping.can(user, Perm.ROLE_MANAGE, org),
        "can_export_personal": scoping.can(user, Perm.MEMBER_EXPORT_PERSONAL, org),
        "can_view_audit": scoping.can(user, Perm.AUDIT_VIEW, org),
    }


# --- the tree ---------------------------------------------------------------------------


@login_required
def org_index(request: HttpRequest) -> HttpResponse:
    roots = selectors.scope_roots(request.user)
    if not roots:
        raise Http404
    if len(roots) == 1 and not request.GET.get("q"):
        return redirect("org_detail", org_id=roots[0].pk)
    return render(request, "orgs/org_index.html", {"roots": roots})


@login_required
def org_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    within = (
        _org(request, int(request.GET["within"]))
        if request.GET.get("within", "").isdigit()
        else None
    )
    results = (
        selectors.search_orgs(request.user, query, within=within) if query else Org.objects.none()
    )
    page = _page(request, results)
    for org in page.object_list:
        org.trail = selectors.breadcrumb(org)[:-1]
    template = (
        "orgs/_search_results.html" if request.headers.get("HX-Request") else "orgs/org_search.html"
    )
    return render(request, template, {"query": query, "page": page, "within": within})


@login_required
def org_detail(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    children = selectors.children_of(
        org, request.user, include_dissolved=request.GET.get("dissolved") == "1"
    )
    context = {
        "org": org,
        "trail": selectors.breadcrumb(org),
        "children": children,
        "subtree_members": selectors.subtree_member_count(org),
        "subtree_orgs": selectors.subtree_org_count(org),
        "allowed_child_kinds": ALLOWED_CHILD_KINDS[org.kind],
        **_perms(request.user, org),
    }
    return render(request, "orgs/org_detail.html", context)


@login_required
def org_create_child(request: HttpRequest, org_id: int) -> HttpResponse:
    parent = _org(request, org_id, Perm.ORG_CHANGE)
    allowed = ALLOWED_CHILD_KINDS[parent.kind]
    form = OrgForm(request.POST or None, allowed_kinds=allowed)
    if request.method == "POST" and form.is_valid():
        try:
            child = services.create_org(actor=request.user, parent=parent, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("%(org)s was created.") % {"org": child.name})
            return redirect("org_detail", org_id=child.pk)
    return render(
        request,
        "core/form_page.html",
        {"form": form, "org": parent, "title": _("New union under %(org)s") % {"org": parent.name}},
    )


@login_required
def org_edit(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ORG_CHANGE)
    initial = {
        "version": org.version,
        "name": org.name,
        "code": org.code,
        "industry": org.industry,
        "address": org.address,
    }
    form = OrgEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_org(actor=request.user, org=org, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("org_detail", org_id=org.pk)
    return render(
        request,
        "core/form_page.html",
        {"form": form, "org": org, "title": _("Edit %(org)s") % {"org": org.name}},
    )


@login_required
def org_move(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ORG_CHANGE)
    form = OrgMoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new_parent = selectors.org_by_code_in_scope(
                request.user, form.cleaned_data["new_parent_code"], Perm.ORG_CHANGE
            )
            services.move_org(actor=request.user, org=org, new_parent=new_parent)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("%(org)s was moved.") % {"org": org.name})
            return redirect("org_detail", org_id=org.pk)
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "org": org,
            "title": _("Move %(org)s") % {"org": org.name},
            "intro": _("The union moves with every union and member below it."),
        },
    )


@login_required
def org_dissolve(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ORG_CHANGE)
    form = OrgDissolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            target = None
            if data["members"] == OrgDissolveForm.MEMBERS_TRANSFER and data["transfer_to_code"]:
                target = selectors.org_by_code_in_scope(
                    request.user, data["transfer_to_code"], Perm.MEMBER_CHANGE
                )
            services.dissolve_org(
                actor=request.user,
                org=org,
                reason=data["reason"],
                transfer_members_to=target,
                members_leave=data["members"] == OrgDissolveForm.MEMBERS_LEAVE,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("%(org)s was dissolved.") % {"org": org.name})
            return redirect("org_detail", org_id=org.parent_id)
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "org": org,
            "title": _("Dissolve %(org)s") % {"org": org.name},
            "intro": _("A dissolved union keeps its history. It has %(n)d active members.")
            % {"n": org.member_count},
            "danger": True,
        },
    )


@login_required
@require_POST
def org_delete(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ORG_CHANGE)
    parent_id = org.parent_id
    try:
        services.delete_org(actor=request.user, org=org)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("org_detail", org_id=org.pk)
    messages.success(request, _("%(org)s was deleted.") % {"org": org.name})
    return redirect("org_detail", org_id=parent_id)


@login_required
def org_export(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    return xlsx_response(exports.org_sheet(request.user, org), f"unions-{org.code}.xlsx")


# --- members ----------------------------------------------------------------------------


@login_required
def member_list(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.MEMBER_VIEW)
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "active")
    members = selectors.members_in_scope(
        request.user, org=org, query=query, status=status if status in ("active", "left") else None
    ).order_by("unit__path", "name", "id")
    page = _page(request, members)
    context = {
        "org": org,
        "page": page,
        "query": query,
        "status": status,
        **_perms(request.user, org),
    }
    template = (
        "orgs/_member_rows.html" if request.headers.get("HX-Request") else "orgs/member_list.html"
    )
    return render(request, template, context)


@login_required
def member_create(request: HttpRequest, org_id: int) -> HttpResponse:
    unit = _org(request, org_id, Perm.MEMBER_CHANGE)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member = services.register_member(actor=request.user, unit=unit, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"id_": "id_number", "phone": "phone"})
        else:
            messages.success(request, _("%(name)s was registered.") % {"name": member.name})
            return redirect("member_detail", member_id=member.pk)
    return render(
        request,
        "core/form_page.html",
        {"form": form, "org": unit, "title": _("New member of %(org)s") % {"org": unit.name}},
    )


@login_required
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id)
    is_self = member.user_id == request.user.pk
    perms = _perms(request.user, member.unit)
    context = {
        "member": member,
        "trail": selectors.breadcrumb(member.unit),
        "history": selectors.member_history(member),
        "is_self": is_self,
        **perms,
    }
    return render(request, "orgs/member_detail.html", context)


@login_required
def member_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id, Perm.MEMBER_CHANGE)
    initial = {
        "version": member.version,
        "name": member.name,
        "phone": member.phone,
        "ethnicity": member.ethnicity,
        "education": member.education,
        "job": member.job,
        "is_migrant_worker": member.is_migrant_worker,
        "joined_on": member.joined_on,
    }
    form = MemberEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_member(actor=request.user, member=member, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc, field_codes={"id_": "id_number", "phone": "phone"})
        else:
            messages.success(request, _("Saved."))
            return redirect("member_detail", member_id=member.pk)
    return render(
        request,
        "core/form_page.html",
        {"form": form, "org": member.unit, "title": _("Edit %(name)s") % {"name": member.name}},
    )


@login_required
def member_leave(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id, Perm.MEMBER_CHANGE)
    form = MemberLeaveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mark_member_left(actor=request.user, member=member, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, _("%(name)s is marked as having left.") % {"name": member.name}
            )
            return redirect("member_detail", member_id=member.pk)
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "org": member.unit,
            "title": _("%(name)s leaves the union") % {"name": member.name},
            "danger": True,
        },
    )


@login_required
def member_transfer(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id, Perm.MEMBER_CHANGE)
    form = TransferForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            to_unit = selectors.unit_by_code(form.cleaned_data["to_unit_code"])
            transfer = services.request_transfer(
                actor=request.user,
                member=member,
                to_unit=to_unit,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            if transfer.status == "accepted":
                messages.success(
                    request,
                    _("%(name)s now belongs to %(unit)s.")
                    % {"name": member.name, "unit": to_unit.name},
                )
            else:
                messages.success(
                    request,
                    _("The transfer waits for %(unit)s to accept it.") % {"unit": to_unit.name},
                )
            return redirect("member_detail", member_id=member.pk)
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "org": member.unit,
            "title": _("Transfer %(name)s to another unit") % {"name": member.name},
            "intro": _(
                "The receiving union accepts the transfer; until then the member stays here."
            ),
        },
    )


@login_required
def member_account(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id, Perm.MEMBER_CHANGE)
    form = WorkerAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.create_worker_account(
                actor=request.user, member=member, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The account was created."))
            return redirect("member_detail", member_id=member.pk)
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "org": member.unit,
            "title": _("Account for %(name)s") % {"name": member.name},
        },
    )


@login_required
def member_export(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.MEMBER_VIEW)
    personal = request.GET.get("personal") == "1"
    if personal and not scoping.can(request.user, Perm.MEMBER_EXPORT_PERSONAL, org):
        raise PermissionDenied
    sheet = exports.member_sheet(request.user, org, personal=personal)
    return xlsx_response(sheet, f"members-{org.code}{'-personal' if personal else ''}.xlsx")


# --- transfers --------------------------------------------------------------------------


@login_required
def transfer_inbox(request: HttpRequest) -> HttpResponse:
    if not scoping.has_any(request.user, Perm.MEMBER_CHANGE):
        raise Http404
    found = selectors.transfers_for(request.user)
    return render(
        request,
        "orgs/transfers.html",
        {
            "incoming": found["incoming"][:200],
            "outgoing": found["outgoing"][:200],
            "form": DecisionForm(),
        },
    )


def _transfer(request: HttpRequest, transfer_id: int) -> MemberTransfer:
    return get_in_scope_or_404(
        MemberTransfer.objects.select_related("member", "from_unit", "to_unit"),
        request.user,
        Perm.MEMBER_CHANGE,
        pk=transfer_id,
    )


@login_required
@require_POST
def transfer_decide(request: HttpRequest, transfer_id: int, decision: str) -> HttpResponse:
    transfer = _transfer(request, transfer_id)
    note = request.POST.get("note", "")
    try:
        if decision == "accept":
            services.accept_transfer(actor=request.user, transfer=transfer, note=note)
            messages.success(
                request,
                _("%(name)s joined %(unit)s.")
                % {"name": transfer.member.name, "unit": transfer.to_unit.name},
            )
        elif decision == "reject":
            services.reject_transfer(actor=request.user, transfer=transfer, note=note)
            messages.success(request, _("The transfer was rejected."))
        elif decision == "cancel":
            services.cancel_transfer(actor=request.user, transfer=transfer)
            messages.success(request, _("The transfer was cancelled."))
        else:
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("transfer_inbox")


# --- roles ------------------------------------------------------------------------------


@login_required
def role_list(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ROLE_MANAGE)
    form = RoleGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = get_user_model().objects.filter(username=data["username"].strip()).first()
            if user is None:
                if not data["password"]:
                    raise ValidationError(
                        _("There is no account %(name)s; give an initial password to create it.")
                        % {"name": data["username"]},
                        code="password_missing",
                    )
                user = account_services.create_cadre_account(
                    actor=request.user,
                    username=data["username"],
                    full_name=data["full_name"],
                    password=data["password"],
                    org=org,
                )
            services.grant_role(
                actor=request.user,
                user=user,
                org=org,
                kind=data["kind"],
                org_only=data["org_only"],
                may_export_personal_data=data["may_export_personal_data"],
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The role was granted."))
            return redirect("role_list", org_id=org.pk)
    roles = Role.objects.filter(org=org).select_related("user", "granted_by")
    return render(
        request,
        "orgs/roles.html",
        {"org": org, "roles": roles, "form": form, "trail": selectors.breadcrumb(org)},
    )


@login_required
@require_POST
def role_revoke(request: HttpRequest, org_id: int, role_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ROLE_MANAGE)
    role = get_in_scope_or_404(
        Role.objects.filter(org=org), request.user, Perm.ROLE_MANAGE, pk=role_id
    )
    try:
        services.revoke_role(actor=request.user, role=role)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The role was revoked."))
    return redirect("role_list", org_id=org.pk)


# --- imports ----------------------------------------------------------------------------


@login_required
def import_upload(request: HttpRequest, org_id: int, kind: str) -> HttpResponse:
    perm = Perm.ORG_CHANGE if kind == ImportJob.Kind.ORGS else Perm.MEMBER_CHANGE
    if kind not in ImportJob.Kind.values:
        raise Http404
    org = _org(request, org_id, perm)
    form = ImportForm(request.POST or None, request.FILES or None)
    job = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = importing.run_import(actor=request.user, org=org, kind=kind, upload=upload)
        if job.succeeded:
            messages.success(request, _("Imported %(n)d rows.") % {"n": job.imported_rows})
            return redirect("import_result", job_id=job.pk)
        return redirect("import_result", job_id=job.pk)
    return render(
        request,
        "orgs/import.html",
        {"org": org, "form": form, "kind": kind, "trail": selectors.breadcrumb(org)},
    )


@login_required
def import_result(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _import_job(request, job_id)
    return render(
        request, "orgs/import_result.html", {"job": job, "org": job.org, "errors": job.errors[:200]}
    )


def _import_job(request: HttpRequest, job_id: int) -> ImportJob:
    job = get_in_scope_or_404(
        ImportJob.objects.select_related("org"), request.user, Perm.ORG_VIEW, pk=job_id
    )
    if job.user_id != request.user.pk and not scoping.can(request.user, Perm.AUDIT_VIEW, job.org):
        raise Http404
    return job


@login_required
def import_errors(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _import_job(request, job_id)
    if not job.errors_file:
        raise Http404
    return FileResponse(
        job.errors_file.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.xlsx"
    )


@login_required
def import_template(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in ImportJob.Kind.values or not scoping.has_any(request.user, Perm.MEMBER_CHANGE):
        raise Http404
    return xlsx_response(importing.template_sheet(kind), f"{kind}-template.xlsx")
