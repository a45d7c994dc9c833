"""Learning pages: thin callers of services, selectors and queries.

Cadres fetch materials, courses, questions and quizzes through the scoping filter
(outside their scope: 404; visible but not theirs to publish: 403). A worker sees a
course or a quiz only when it is published and they are in its audience (else 404), and
an attempt only when it is theirs; a cadre in scope sees a course or a quiz as its
publisher does, and an attempt's outcome (never its questions). Every change goes through
a service, which writes the audit log; its refusal becomes a message or an error on the
form, so nothing typed is lost. Every action URL also answers GET with the page its form
lives on.

While an attempt is open the page holds only what `services.public_questions` gives (no
answer, no explanation); answers are saved as the worker goes (htmx posts the form on
each change), and the server scores the submission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from gonghui.core.forms import add_service_error
from gonghui.core.xlsx import Sheet, xlsx_response
from gonghui.learning import queries, selectors, services
from gonghui.learning.forms import (
    COURSE_ERROR_FIELDS,
    MATERIAL_ERROR_FIELDS,
    QUESTION_ERROR_FIELDS,
    QUIZ_ERROR_FIELDS,
    BankFilterForm,
    CourseForm,
    MaterialForm,
    QuestionForm,
    QuestionImportForm,
    QuizForm,
    course_item_formset,
    draw_rule_formset,
    question_initial,
    quiz_initial,
)
from gonghui.learning.models import (
    Attempt,
    AttemptStatus,
    Course,
    CourseCompletion,
    CourseItem,
    Difficulty,
    Material,
    MaterialKind,
    PointsRule,
    PublishStatus,
    Question,
    QuestionKind,
    Quiz,
    QuizResult,
)
from gonghui.orgs import scoping
from gonghui.orgs import selectors as org_selectors
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind
from gonghui.orgs.scoping import Perm, get_in_scope_or_404

PAGE_SIZE = 30
PROGRESS_PAGE_SIZE = 50
LEADERBOARD_SIZE = 50
RANKING_SIZE = 50
OPTION_LETTERS = "ABCDEFGH"
ANSWER_PREFIX = "a-"


# --- fetching through the scoping filter -----------------------------------------------------


def _org(request: HttpRequest, org_id: int) -> Org:
    return get_in_scope_or_404(
        Org.objects.select_related("parent"), request.user, Perm.ORG_VIEW, pk=org_id
    )


def _material(request: HttpRequest, material_id: int) -> Material:
    return get_in_scope_or_404(
        Material.objects.select_related("org", "created_by"),
        request.user,
        Perm.ORG_VIEW,
        pk=material_id,
    )


def _question(request: HttpRequest, question_id: int) -> Question:
    return get_in_scope_or_404(
        Question.objects.select_related("org"), request.user, Perm.ORG_VIEW, pk=question_id
    )


def _can_publish(user: Any, org: Org) -> bool:
    return scoping.can(user, Perm.LEARNING_MANAGE, org) and org.is_active


def _require_publish(user: Any, org: Org) -> None:
    """Visible (the caller fetched it in scope) but not theirs to publish: 403."""
    if not scoping.can(user, Perm.LEARNING_MANAGE, org):
        raise PermissionDenied


def _member(user: Any) -> Member | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Member.objects.filter(user=user, status=MemberStatus.ACTIVE).select_related("unit").first()
    )


def _studied(
    request: HttpRequest, model: type[Course] | type[Quiz], pk: int
) -> tuple[Any, Member | None, bool]:
    """The course or quiz, the member studying it (published and for them) or None, and
    whether the user sees it as a cadre (in scope). Anyone else: 404."""
    related = ("org", "requirement__notice", "created_by")
    obj = model.objects.select_related(*related).filter(pk=pk).first()  # type: ignore[attr-defined]
    if obj is None:
        raise Http404
    as_cadre = model.objects.restrict(request.user, Perm.ORG_VIEW).filter(pk=pk).exists()  # type: ignore[attr-defined]
    member = _member(request.user)
    studies = (
        member is not None
        and obj.status == PublishStatus.PUBLISHED
        and services.in_audience(obj, member)
    )
    if not studies and not as_cadre:
        raise Http404
    return obj, (member if studies else None), as_cadre


def _as_member(request: HttpRequest, member: Member | None, as_cadre: bool) -> bool:
    """A cadre who is also in the audience studies through the member's links (?as=member)."""
    wanted = request.GET.get("as") == "member" or request.POST.get("as") == "member"
    return member is not None and (not as_cadre or wanted)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, services.LearningRefused):
        return exc.message
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("You do not have permission to do this.")


def _head(request: HttpRequest, org: Org, tab: str) -> dict[str, Any]:
    return {
        "org": org,
        "trail": org_selectors.visible_breadcrumb(request.user, org),
        "tab": tab,
        "can_publish": _can_publish(request.user, org),
    }


def _page(request: HttpRequest, qs: Any, size: int = PAGE_SIZE, param: str = "page") -> Any:
    return Paginator(qs, size).get_page(request.GET.get(param))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The menu entry: a cadre's own union's courses, a worker's own study page."""
    org = org_selectors.primary_org(request.user)
    if org is None:
        return redirect("learning:mine")
    return redirect("learning:courses", org_id=org.pk)


# --- materials --------------------------------------------------------------------------------


@login_required
def materials(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    qs = selectors.materials_of(request.user, org).order_by("-created_at", "-id")
    context = _head(request, org, "materials")
    context["page"] = _page(request, qs)
    return render(request, "learning/materials.html", context)


def _material_form_page(request: HttpRequest, form: MaterialForm, org: Org) -> HttpResponse:
    kind = form.data.get("kind") if form.is_bound else form.initial.get("kind")
    titles: dict[str, str] = {
        MaterialKind.ARTICLE: _("New article"),
        MaterialKind.DOCUMENT: _("New PDF document"),
        MaterialKind.VIDEO: _("New video link"),
    }
    return render(
        request,
        "learning/material_form.html",
        {
            "form": form,
            "org": org,
            "kind": kind,
            "title": titles.get(str(kind), _("New study material")),
            "trail": org_selectors.visible_breadcrumb(request.user, org),
        },
    )


@login_required
def material_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)
    if request.method == "POST":
        form = MaterialForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                material = services.create_material(request.user, org=org, data=form.as_input())
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=MATERIAL_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("“%(title)s” was saved as a draft: publish it to use it in courses.")
                    % {"title": material.title},
                )
                return redirect("learning:material", material_id=material.pk)
        return _material_form_page(request, form, org)
    kind = request.GET.get("kind", MaterialKind.ARTICLE)
    if kind not in MaterialKind.values:
        kind = MaterialKind.ARTICLE
    return _material_form_page(request, MaterialForm(initial={"kind": kind}), org)


def _material_page(request: HttpRequest, material: Material) -> HttpResponse:
    org = material.org
    used_in = list(
        Course.objects.filter(items__material=material).order_by("-created_at", "-id")[:20]
    )
    return render(
        request,
        "learning/material_detail.html",
        {
            "material": material,
            "org": org,
            "trail": org_selectors.visible_breadcrumb(request.user, org),
            "can_publish": _can_publish(request.user, org),
            "used_in": used_in,
        },
    )


@login_required
def material_detail(request: HttpRequest, material_id: int) -> HttpResponse:
    return _material_page(request, _material(request, material_id))


@login_required
def material_file(request: HttpRequest, material_id: int) -> HttpResponseBase:
    """The PDF of a document: for cadres in scope, and for members it is for."""
    material = (
        Material.objects.restrict(request.user, Perm.ORG_VIEW)
        .select_related("org")
        .filter(pk=material_id)
        .first()
    )
    if material is None:
        member = _member(request.user)
        found = Material.objects.select_related("org").filter(pk=material_id).first()
        if found is None or member is None or not queries.material_for_member(found, member):
            raise Http404
        material = found
    if not material.file:
        raise Http404
    try:
        handle = material.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    name = f"{material.title[:80]}.pdf"
    return FileResponse(handle, as_attachment=False, filename=name, content_type="application/pdf")


def _set_material_status(request: HttpRequest, material_id: int, publish: bool) -> HttpResponse:
    material = _material(request, material_id)
    if request.method != "POST":
        return _material_page(request, material)
    _require_publish(request.user, material.org)
    try:
        if publish:
            services.publish_material(request.user, material)
        else:
            services.withdraw_material(request.user, material)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            (_("“%(title)s” was published.") if publish else _("“%(title)s” was withdrawn."))
            % {"title": material.title},
        )
    return redirect("learning:material", material_id=material.pk)


@login_required
def material_publish(request: HttpRequest, material_id: int) -> HttpResponse:
    return _set_material_status(request, material_id, True)


@login_required
def material_withdraw(request: HttpRequest, material_id: int) -> HttpResponse:
    return _set_material_status(request, material_id, False)


# --- courses ------------------------------------------------------------------------------


@login_required
def courses(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    qs = (
        selectors.courses_of(request.user, org)
        .select_related("requirement__notice")
        .annotate(
            item_count=Count("items", distinct=True),
            completion_count=Count("completions", distinct=True),
        )
        .order_by("-created_at", "-id")
    )
    context = _head(request, org, "courses")
    context["page"] = _page(request, qs)
    return render(request, "learning/courses.html", context)


def _course_form_page(
    request: HttpRequest, form: CourseForm, formset: Any, org: Org
) -> HttpResponse:
    return render(
        request,
        "learning/course_form.html",
        {
            "form": form,
            "formset": formset,
            "org": org,
            "title": _("New course of %(org)s") % {"org": org.name},
            "trail": org_selectors.visible_breadcrumb(request.user, org),
            "has_materials": queries.usable_materials(org).exists(),
        },
    )


@login_required
def course_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)
    if request.method == "POST":
        form = CourseForm(request.POST, org=org)
        formset = course_item_formset(request.POST, org=org)
        if form.is_valid() and formset.is_valid():
            items = [i for i in (f.as_input() for f in formset.forms) if i is not None]
            try:
                course = services.create_course(request.user, org=org, data=form.as_input(items))
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=COURSE_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("The course “%(title)s” was saved as a draft.") % {"title": course.title},
                )
                return redirect("learning:course", course_id=course.pk)
        return _course_form_page(request, form, formset, org)
    form = CourseForm(org=org)
    wanted = request.GET.get("requirement", "")
    if wanted.isdigit() and any(
        str(v) == wanted for v, _label in form.fields["requirement"].choices
    ):
        form.initial["requirement"] = int(wanted)
    return _course_form_page(request, form, course_item_formset(org=org), org)


def _audience_labels(thing: Course | Quiz) -> dict[str, Any]:
    labels = dict(OrgKind.choices)
    return {
        "audience_kinds": [labels.get(k, k) for k in thing.audience_kinds or []],
        "audience_units": list(thing.audience_units.order_by("path")),
    }


def _course_page(request: HttpRequest, course: Course, *, as_member_link: bool) -> HttpResponse:
    user = request.user
    show = request.GET.get("show", queries.PROGRESS_ALL)
    if show not in (queries.PROGRESS_COMPLETED, queries.PROGRESS_NOT_COMPLETED):
        show = queries.PROGRESS_ALL
    progress = _page(request, queries.course_progress(course, user, show=show), PROGRESS_PAGE_SIZE)
    context = {
        "course": course,
        "org": course.org,
        "trail": org_selectors.visible_breadcrumb(user, course.org),
        "can_publish": _can_publish(user, course.org),
        "items": list(course.items.select_related("material")),
        "counts": queries.course_counts(course, user),
        "progress": progress,
        "show": show,
        "as_member_link": as_member_link,
        **_audience_labels(course),
    }
    return render(request, "learning/course_detail.html", context)


def _study_course_page(request: HttpRequest, course: Course, member: Member) -> HttpResponse:
    rows = selectors.course_items(course, member)
    done = sum(1 for _item, p in rows if p is not None and p.completed_at is not None)
    completion = CourseCompletion.objects.filter(course=course, member=member).first()
    following = next((item for item, p in rows if p is None or p.completed_at is None), None)
    return render(
        request,
        "learning/study_course.html",
        {
            "course": course,
            "member": member,
            "rows": rows,
            "done": done,
            "percent": round(100 * done / len(rows)) if rows else 0,
            "completion": completion,
            "following": following,
        },
    )


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    course, member, as_cadre = _studied(request, Course, course_id)
    if _as_member(request, member, as_cadre):
        assert member is not None
        return _study_course_page(request, course, member)
    return _course_page(request, course, as_member_link=member is not None)


@login_required
def course_publish(request: HttpRequest, course_id: int) -> HttpResponse:
    course = get_in_scope_or_404(
        Course.objects.select_related("org", "requirement__notice"),
        request.user,
        Perm.ORG_VIEW,
        pk=course_id,
    )
    if request.method != "POST":
        return _course_page(request, course, as_member_link=False)
    _require_publish(request.user, course.org)
    try:
        services.publish_course(request.user, course)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("“%(title)s” was published.") % {"title": course.title})
    return redirect("learning:course", course_id=course.pk)


def _item_of(course: Course, item_id: int) -> CourseItem:
    return get_object_or_404(
        CourseItem.objects.select_related("material", "course"), pk=item_id, course=course
    )


def _item_page(
    request: HttpRequest,
    course: Course,
    item: CourseItem,
    member: Member | None,
    *,
    refusal: str = "",
) -> HttpResponse:
    progress = None
    remaining = 0
    if member is not None and not refusal:
        try:
            progress = services.open_item(member, item)
        except services.LearningRefused as refused:
            refusal = refused.message
        else:
            if progress.completed_at is None:
                spent = int((timezone.now() - progress.opened_at).total_seconds())
                remaining = max(0, item.min_seconds - spent)
    items = list(course.items.order_by("position", "id").values_list("pk", flat=True))
    index = items.index(item.pk) if item.pk in items else 0
    return render(
        request,
        "learning/item.html",
        {
            "course": course,
            "item": item,
            "material": item.material,
            "member": member,
            "progress": progress,
            "remaining": remaining,
            "refusal": refusal,
            "number": index + 1,
            "total": len(items),
            "previous_id": items[index - 1] if index > 0 else None,
            "next_id": items[index + 1] if index + 1 < len(items) else None,
            "preview": member is None,
        },
    )


@login_required
@never_cache
def item_detail(request: HttpRequest, course_id: int, item_id: int) -> HttpResponse:
    """A worker reads the material (the reading clock starts on the first opening); a
    cadre in scope who is not in the audience sees a preview."""
    course, member, _as_cadre = _studied(request, Course, course_id)
    item = _item_of(course, item_id)
    return _item_page(request, course, item, member)


@login_required
def item_done(request: HttpRequest, course_id: int, item_id: int) -> HttpResponse:
    course, member, _as_cadre = _studied(request, Course, course_id)
    item = _item_of(course, item_id)
    if request.method != "POST":
        return _item_page(request, course, item, member)
    back = reverse("learning:item", kwargs={"course_id": course.pk, "item_id": item.pk})
    if member is None:
        messages.error(request, _("Only members of the course's audience can study it."))
        return redirect(back)
    try:
        services.complete_item(member, item, watched=request.POST.get("watched") == "on")
    except services.LearningRefused as refused:
        messages.error(request, refused.message)
        return redirect(back)
    if CourseCompletion.objects.filter(course=course, member=member).exists():
        messages.success(
            request, _("You completed the course “%(title)s”.") % {"title": course.title}
        )
        return redirect(f"{reverse('learning:course', args=[course.pk])}?as=member")
    messages.success(request, _("Marked as done."))
    rows = selectors.course_items(course, member)
    following = next((i for i, p in rows if p is None or p.completed_at is None), None)
    if following is not None:
        return redirect("learning:item", course_id=course.pk, item_id=following.pk)
    return redirect(f"{reverse('learning:course', args=[course.pk])}?as=member")


# --- the question bank --------------------------------------------------------------------


@login_required
def questions(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)  # the bank holds the answers: publishers only
    filter_form = BankFilterForm(request.GET or None)
    filters = filter_form.filters()
    context = _head(request, org, "questions")
    context.update(
        {
            "filter_form": filter_form,
            "filters": filters,
            "tags": queries.bank_tags(org),
            "counts": queries.bank_counts(org),
            "page": _page(request, queries.question_bank(org, filters)),
            "query": _query_without_page(request),
            "letters": OPTION_LETTERS,
        }
    )
    return render(request, "learning/questions.html", context)


def _question_form_page(
    request: HttpRequest, form: QuestionForm, org: Org, question: Question | None
) -> HttpResponse:
    title = _("Edit the question") if question else _("New question of %(org)s") % {"org": org.name}
    return render(
        request,
        "learning/question_form.html",
        {
            "form": form,
            "org": org,
            "question": question,
            "title": title,
            "trail": org_selectors.visible_breadcrumb(request.user, org),
        },
    )


@login_required
def question_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)
    if request.method == "POST":
        form = QuestionForm(request.POST)
        if form.is_valid():
            try:
                services.add_question(request.user, org=org, data=form.as_input())
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=QUESTION_ERROR_FIELDS)
            else:
                messages.success(request, _("The question was added to the bank."))
                if request.POST.get("another"):
                    return redirect("learning:question_create", org_id=org.pk)
                return redirect("learning:questions", org_id=org.pk)
        return _question_form_page(request, form, org, None)
    initial: dict[str, Any] = {"kind": QuestionKind.SINGLE, "difficulty": Difficulty.MEDIUM}
    return _question_form_page(request, QuestionForm(initial=initial), org, None)


@login_required
def question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question(request, question_id)
    org = question.org
    _require_publish(request.user, org)
    if request.method == "POST":
        form = QuestionForm(request.POST)
        if form.is_valid():
            try:
                services.edit_question(
                    request.user,
                    question,
                    form.as_input(),
                    version=form.cleaned_data["version"] or 0,
                )
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=QUESTION_ERROR_FIELDS)
            else:
                messages.success(
                    request,
                    _("The question was saved. Quizzes already taken keep their own copy."),
                )
                return redirect("learning:questions", org_id=org.pk)
        return _question_form_page(request, form, org, question)
    form = QuestionForm(initial=question_initial(question))
    return _question_form_page(request, form, org, question)


@login_required
def question_retire(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question(request, question_id)
    org = question.org
    _require_publish(request.user, org)
    if request.method == "POST":
        try:
            services.retire_question(request.user, question)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("The question was retired: quizzes no longer draw it."))
        return redirect("learning:questions", org_id=org.pk)
    return render(
        request,
        "learning/confirm.html",
        {
            "title": _("Retire this question?"),
            "intro": _(
                "Quizzes no longer draw it; attempts already taken keep it and their scores."
            ),
            "subject": question.text,
            "allowed": question.active,
            "refusal": _("This question is retired already."),
            "button": _("Retire"),
            "danger": True,
            "back": reverse("learning:questions", kwargs={"org_id": org.pk}),
        },
    )


def _import_page(
    request: HttpRequest,
    org: Org,
    form: QuestionImportForm,
    rejected: services.QuestionImportRejected | None = None,
) -> HttpResponse:
    return render(
        request,
        "learning/question_import.html",
        {
            "org": org,
            "form": form,
            "rejected": rejected,
            "columns": services.QUESTION_COLUMNS,
            "trail": org_selectors.visible_breadcrumb(request.user, org),
        },
    )


@login_required
def question_import(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)
    if request.method != "POST":
        return _import_page(request, org, QuestionImportForm())
    form = QuestionImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_page(request, org, form)
    upload = form.cleaned_data["sheet"]
    try:
        count = services.import_questions(
            request.user, org=org, stream=upload, file_name=upload.name
        )
    except services.QuestionImportRejected as rejected:
        return _import_page(request, org, QuestionImportForm(), rejected)
    except (ValidationError, PermissionDenied) as exc:
        form.add_error("sheet", _error_text(exc))
        return _import_page(request, org, form)
    messages.success(request, _("%(n)d questions were imported.") % {"n": count})
    return redirect("learning:questions", org_id=org.pk)


@login_required
def question_template(request: HttpRequest) -> HttpResponseBase:
    if not scoping.has_any(request.user, Perm.LEARNING_MANAGE):
        raise Http404
    blank = [""] * 6
    sheet = Sheet(
        title="题库",
        headers=services.QUESTION_COLUMNS,
        rows=[
            [
                "单选",
                "《中华人民共和国工会法》规定，工会的基本职责是什么？",
                "维护职工合法权益",
                "组织文体活动",
                "管理企业生产",
                "代替企业发放工资",
                "",
                "",
                "A",
                "维护职工合法权益、竭诚服务职工群众是工会的基本职责。",
                "工会法",
                "易",
            ],
            [
                "多选",
                "工会“三进”宣讲是指进哪些地方？",
                "进企业",
                "进车间",
                "进班组",
                "进商场",
                "",
                "",
                "ABC",
                "",
                "宣讲",
                "中",
            ],
            ["判断", "会员有权参加工会组织的活动。", *blank, "正确", "", "工会法", "易"],
            [
                "填空",
                "工会的基本职责是____。",
                *blank,
                "维护职工合法权益|维权",
                "",
                "工会法",
                "中",
            ],
        ],
        notes=[
            (
                "说明",
                [
                    "每行一道题；列名不可改动，“题型”“题目”“答案”必须填写。",
                    "题型：单选、多选、判断、填空。",
                    "选项A至选项F：单选和多选题至少填两个选项；判断题和填空题不填。",
                    "答案：单选填一个字母（如 A），多选填多个字母（如 ABC）；"
                    "判断填“正确”或“错误”；填空题可写多个可接受的答案，用 | 隔开。",
                    "难度：易、中、难（不填为中）。标签：用逗号或空格隔开，组卷时按标签抽题。",
                    "任何一行有误时整份文件都不导入，并列出每一行的原因；改正后重新上传即可。",
                    "与题库中已有题目或文件中其他行题目相同的题不能重复导入。",
                ],
            )
        ],
    )
    return xlsx_response(sheet, "question-bank-template.xlsx")


# --- quizzes ------------------------------------------------------------------------------


@login_required
def quizzes(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    qs = (
        selectors.quizzes_of(request.user, org)
        .annotate(
            participant_count=Count("results", distinct=True),
            passed_count=Count("results", filter=Q(results__passed=True), distinct=True),
        )
        .order_by("-created_at", "-id")
    )
    context = _head(request, org, "quizzes")
    context["page"] = _page(request, qs)
    context["now"] = timezone.now()
    return render(request, "learning/quizzes.html", context)


def _quiz_form_page(request: HttpRequest, form: QuizForm, formset: Any, org: Org) -> HttpResponse:
    return render(
        request,
        "learning/quiz_form.html",
        {
            "form": form,
            "formset": formset,
            "org": org,
            "title": _("New quiz of %(org)s") % {"org": org.name},
            "trail": org_selectors.visible_breadcrumb(request.user, org),
            "tags": queries.bank_tags(org),
            "counts": queries.bank_counts(org),
        },
    )


@login_required
def quiz_create(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    _require_publish(request.user, org)
    if request.method == "POST":
        form = QuizForm(request.POST, org=org)
        formset = draw_rule_formset(request.POST)
        if form.is_valid() and formset.is_valid():
            rules = [r for r in (f.as_rule() for f in formset.forms) if r is not None]
            try:
                quiz = services.create_quiz(request.user, org=org, data=form.as_input(rules))
            except (ValidationError, PermissionDenied) as exc:
                add_service_error(form, exc, field_codes=QUIZ_ERROR_FIELDS)
            else:
                messages.success(
                    request, _("The quiz “%(title)s” was saved as a draft.") % {"title": quiz.title}
                )
                return redirect("learning:quiz", quiz_id=quiz.pk)
        return _quiz_form_page(request, form, formset, org)
    form = QuizForm(initial=quiz_initial(), org=org)
    wanted = request.GET.get("requirement", "")
    if wanted.isdigit() and any(
        str(v) == wanted for v, _label in form.fields["requirement"].choices
    ):
        form.initial["requirement"] = int(wanted)
    formset = draw_rule_formset(initial=[{"count": 10}])
    return _quiz_form_page(request, form, formset, org)


def _rule_labels(quiz: Quiz) -> list[str]:
    labels = dict(Difficulty.choices)
    shown = []
    for rule in quiz.rules or []:
        parts = [rule.get("tag") or _("any tag")]
        if rule.get("difficulty"):
            parts.append(str(labels.get(rule["difficulty"], rule["difficulty"])))
        shown.append(
            _("%(count)d questions: %(what)s")
            % {"count": int(rule.get("count") or 0), "what": " · ".join(parts)}
        )
    return shown


def _quiz_page(request: HttpRequest, quiz: Quiz, *, as_member_link: bool) -> HttpResponse:
    user = request.user
    within = queries.within_quiz(user, quiz, request.GET.get("within", ""))
    context = {
        "quiz": quiz,
        "org": quiz.org,
        "trail": org_selectors.visible_breadcrumb(user, quiz.org),
        "can_publish": _can_publish(user, quiz.org),
        "rules": _rule_labels(quiz),
        "size": queries.bank_size(quiz),
        "within": within,
        "within_trail": [
            o
            for o in org_selectors.breadcrumb(within)
            if o.is_descendant_of(quiz.org) and scoping.can(user, Perm.ORG_VIEW, o)
        ],
        "counts": queries.quiz_counts(quiz, within),
        "ranking": selectors.contest_ranking(quiz, org=within, limit=RANKING_SIZE),
        "unit_ranking": selectors.contest_unit_ranking(quiz, within),
        "as_member_link": as_member_link,
        "now": timezone.now(),
        **_audience_labels(quiz),
    }
    return render(request, "learning/quiz_detail.html", context)


def _study_quiz_page(request: HttpRequest, quiz: Quiz, member: Member) -> HttpResponse:
    services.expire_attempts(quiz=quiz, member=member)  # time ran out: scored now
    attempts = list(selectors.attempts_of(member, quiz))
    scored = [a for a in attempts if a.status != AttemptStatus.IN_PROGRESS]
    result = QuizResult.objects.filter(quiz=quiz, member=member).first()
    now = timezone.now()
    return render(
        request,
        "learning/study_quiz.html",
        {
            "quiz": quiz,
            "member": member,
            "attempts": scored,
            "open_attempt": next((a for a in attempts if a.is_open), None),
            "attempts_left": max(0, quiz.attempts_allowed - len(attempts)),
            "result": result,
            "size": queries.bank_size(quiz),
            "not_yet": now < quiz.opens_at,
            "closed": now > quiz.closes_at,
            "now": now,
        },
    )


@login_required
def quiz_detail(request: HttpRequest, quiz_id: int) -> HttpResponse:
    quiz, member, as_cadre = _studied(request, Quiz, quiz_id)
    if _as_member(request, member, as_cadre):
        assert member is not None
        return _study_quiz_page(request, quiz, member)
    return _quiz_page(request, quiz, as_member_link=member is not None)


@login_required
def quiz_publish(request: HttpRequest, quiz_id: int) -> HttpResponse:
    quiz = get_in_scope_or_404(
        Quiz.objects.select_related("org", "requirement__notice"),
        request.user,
        Perm.ORG_VIEW,
        pk=quiz_id,
    )
    if request.method != "POST":
        return _quiz_page(request, quiz, as_member_link=False)
    _require_publish(request.user, quiz.org)
    try:
        services.publish_quiz(request.user, quiz)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("“%(title)s” was published.") % {"title": quiz.title})
    return redirect("learning:quiz", quiz_id=quiz.pk)


@login_required
def quiz_start(request: HttpRequest, quiz_id: int) -> HttpResponse:
    """Start (or resume) the worker's attempt."""
    quiz, member, _as_cadre = _studied(request, Quiz, quiz_id)
    if request.method != "POST":
        return quiz_detail(request, quiz_id)
    back = f"{reverse('learning:quiz', args=[quiz.pk])}?as=member"
    if member is None:
        messages.error(request, _("Only members of the quiz's audience can take it."))
        return redirect(reverse("learning:quiz", args=[quiz.pk]))
    try:
        attempt = services.start_attempt(request.user, quiz)
    except services.LearningRefused as refused:
        messages.error(request, refused.message)
        return redirect(back)
    return redirect("learning:attempt", attempt_id=attempt.pk)


# --- an attempt ---------------------------------------------------------------------------


def _attempt(request: HttpRequest, attempt_id: int) -> tuple[Attempt, bool]:
    """The attempt and whether it is the user's own; a cadre in scope sees its outcome.
    Anyone else: 404."""
    attempt = (
        Attempt.objects.select_related("quiz__org", "member__unit", "unit")
        .filter(pk=attempt_id)
        .first()
    )
    if attempt is None:
        raise Http404
    user = request.user
    if attempt.member.user_id is not None and attempt.member.user_id == user.pk:
        return attempt, True
    if queries.attempt_for_cadre(user, attempt):
        return attempt, False
    raise Http404


def _given(attempt: Attempt, position: int) -> Any:
    return attempt.answers.get(str(position))


def _take_page(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    """The open attempt: the questions as `public_questions` gives them, never more."""
    labels = dict(QuestionKind.choices)
    shown = []
    for q in services.public_questions(attempt):
        given = _given(attempt, q["position"])
        shown.append(
            {
                "position": q["position"],
                "kind": q["kind"],
                "kind_label": labels.get(q["kind"], q["kind"]),
                "text": q["text"],
                "options": [
                    {"index": i, "letter": OPTION_LETTERS[i], "text": text}
                    for i, text in enumerate(q["options"])
                ],
                "given": given if isinstance(given, list) else [],
                "given_text": given if isinstance(given, str) else "",
            }
        )
    remaining = max(0, int((attempt.deadline - timezone.now()).total_seconds()))
    answered = sum(1 for q in shown if q["given"] or q["given_text"])
    return render(
        request,
        "learning/attempt_take.html",
        {
            "attempt": attempt,
            "quiz": attempt.quiz,
            "questions": shown,
            "remaining": remaining,
            "answered": answered,
        },
    )


def _result_page(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    quiz = attempt.quiz
    review = []
    reveal = services.may_see_answers(attempt)
    if reveal:
        labels = dict(QuestionKind.choices)
        for n, q in enumerate(attempt.snapshot):
            given = _given(attempt, n)
            right = services.score_answers([q], {"0": given}) == 1 if given is not None else False
            review.append(
                {
                    "number": n + 1,
                    "kind_label": labels.get(q["kind"], q["kind"]),
                    "text": q["text"],
                    "options": [
                        {
                            "letter": OPTION_LETTERS[i],
                            "text": text,
                            "right": i in q["answer"],
                            "chosen": isinstance(given, list) and i in given,
                        }
                        for i, text in enumerate(q["options"])
                    ],
                    "fill": q["kind"] == QuestionKind.FILL,
                    "accepted": q["answer"] if q["kind"] == QuestionKind.FILL else [],
                    "given_text": given if isinstance(given, str) else "",
                    "right": right,
                    "explanation": q.get("explanation") or "",
                }
            )
    used = Attempt.objects.filter(quiz=quiz, member=attempt.member).count()
    return render(
        request,
        "learning/attempt_result.html",
        {
            "attempt": attempt,
            "quiz": quiz,
            "total": len(attempt.snapshot),
            "review": review,
            "reveal": reveal,
            "may_retry": quiz.is_open and used < quiz.attempts_allowed,
            "result": QuizResult.objects.filter(quiz=quiz, member=attempt.member).first(),
        },
    )


def _outcome_page(request: HttpRequest, attempt: Attempt) -> HttpResponse:
    """What a cadre sees of a member's attempt: who, when, the score; not the questions."""
    return render(
        request,
        "learning/attempt_outcome.html",
        {"attempt": attempt, "quiz": attempt.quiz, "total": len(attempt.snapshot)},
    )


def _fresh(attempt: Attempt) -> Attempt:
    """Score it now if its time ran out (the worker's page does what the job would)."""
    if attempt.status == AttemptStatus.IN_PROGRESS and timezone.now() > (
        attempt.deadline + services.SUBMIT_GRACE
    ):
        services.expire_attempts(quiz=attempt.quiz, member=attempt.member)
        attempt.refresh_from_db()
    return attempt


@login_required
@never_cache
def attempt_detail(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt, own = _attempt(request, attempt_id)
    if not own:
        return _outcome_page(request, attempt)
    attempt = _fresh(attempt)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return _take_page(request, attempt)
    return _result_page(request, attempt)


def _answers_from(request: HttpRequest, attempt: Attempt) -> dict[str, Any]:
    """The answers posted by the quiz form: `a-<position>` (an option index, several for a
    multiple-choice question, or the text of a fill-in); `shown` names the multiple-choice
    questions on the page, so unticking every box clears the answer."""
    kinds = [q["kind"] for q in services.public_questions(attempt)]
    answers: dict[str, Any] = {}
    shown = {v for v in request.POST.getlist("shown") if v.isdigit()}
    for position, kind in enumerate(kinds):
        key = f"{ANSWER_PREFIX}{position}"
        if kind == QuestionKind.FILL:
            if key in request.POST:
                answers[str(position)] = request.POST.get(key, "")
            continue
        values = request.POST.getlist(key)
        if not values and not (kind == QuestionKind.MULTIPLE and str(position) in shown):
            continue
        try:
            chosen = [int(v) for v in values]
        except ValueError:
            continue
        answers[str(position)] = chosen
    return answers


@login_required
def attempt_save(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Save the answers so far (htmx, on every change): a line saying so, or why not."""
    attempt, own = _attempt(request, attempt_id)
    if request.method != "POST":
        return attempt_detail(request, attempt_id)
    if not own:
        raise PermissionDenied
    try:
        saved = services.save_answers(request.user, attempt, _answers_from(request, attempt))
    except services.LearningRefused as refused:
        response = render(
            request, "learning/_save_state.html", {"ok": False, "message": refused.message}
        )
        if refused.code in ("submitted", "timed_out"):
            response["HX-Redirect"] = reverse("learning:attempt", args=[attempt.pk])
        return response
    answered = sum(1 for v in saved.answers.values() if v not in ("", [], None))
    return render(
        request,
        "learning/_save_state.html",
        {"ok": True, "at": timezone.localtime(), "answered": answered},
    )


@login_required
def attempt_submit(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt, own = _attempt(request, attempt_id)
    if request.method != "POST":
        return attempt_detail(request, attempt_id)
    if not own:
        raise PermissionDenied
    try:
        scored = services.submit_attempt(request.user, attempt, _answers_from(request, attempt))
    except services.LearningRefused as refused:
        messages.error(request, refused.message)
    else:
        if scored.status == AttemptStatus.TIMED_OUT:
            messages.error(request, _("Time was up: the answers saved before it are scored."))
    return redirect("learning:attempt", attempt_id=attempt.pk)


# --- leaderboards ---------------------------------------------------------------------------


@login_required
def leaderboards(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _org(request, org_id)
    context = _head(request, org, "leaderboards")
    context.update(
        {
            # Computed at most every 2 s (the boards may trail by up to 2 s), after `_org`.
            "members": selectors.cached_members_leaderboard(org, limit=LEADERBOARD_SIZE),
            "units": selectors.cached_units_leaderboard(org, request.user),
            "show_members": scoping.can(request.user, Perm.MEMBER_VIEW, org),
        }
    )
    return render(request, "learning/leaderboards.html", context)


# --- the worker's pages ---------------------------------------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """For me: my courses with progress, my quizzes, my points and rank."""
    member = _member(request.user)
    if member is None:
        return render(request, "learning/mine.html", {"member": None})
    now = timezone.now()
    my_courses = selectors.courses_for(member)
    my_quizzes = selectors.quizzes_for(member)
    rank, size = selectors.rank_in_unit(member)
    context = {
        "member": member,
        "courses": sorted(my_courses, key=lambda c: (c.completed, c.course.due is None)),
        "quizzes": my_quizzes,
        "balance": selectors.balance(member),
        "rank": rank,
        "unit_size": size,
        "now": now,
    }
    return render(request, "learning/mine.html", context)


@login_required
def points(request: HttpRequest) -> HttpResponse:
    member = _member(request.user)
    if member is None:
        return render(request, "learning/points.html", {"member": None})
    rank, size = selectors.rank_in_unit(member)
    rules = services.points_rules()
    return render(
        request,
        "learning/points.html",
        {
            "member": member,
            "balance": selectors.balance(member),
            "rank": rank,
            "unit_size": size,
            "history": list(selectors.points_history(member)),
            "rules": [
                (label, rules[value][0], rules[value][1])
                for value, label in PointsRule.choices
                if value in rules
            ],
        },
    )
