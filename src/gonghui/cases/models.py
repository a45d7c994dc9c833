"""Worker cases (职工诉求) and hardship aid files (困难职工档案).

A worker (or a cadre on their behalf) files a `Case`; it is routed to a handling union —
the worker's grassroots union, or the union above it when the worker asks that their
employer's union not see it — and handled there: accepted, contacted, resolved, rated,
perhaps reopened once. Deadlines are counted in working days (`WorkCalendarDay` holds the
public holidays and make-up workdays of each year); a case left late is escalated to the
parent union. Every step is a `CaseEvent` on the case's timeline.

Who may read a case: the worker it belongs to; its assigned handler; the case handlers of
the handling union while it is unassigned; and supervisors (`Perm.CASE_SUPERVISE`) of the
handling union or any union above it. Never the unions below the handling union — so a
case that skipped the employer's union stays invisible to it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import Perm, ScopedQuerySet, is_unrestricted, scope_q

# A closed case may be reopened by its worker once, within this many days of closing.
REOPEN_WITHIN_DAYS = 15
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


class CaseCategory(models.TextChoices):
    WAGES = "wages", _("Wage arrears")
    CONTRACT = "contract", _("Labour contract")
    SOCIAL_INSURANCE = "social_insurance", _("Social insurance")
    HOURS = "hours", _("Working hours and rest")
    SAFETY = "safety", _("Occupational safety")
    HARDSHIP = "hardship", _("Hardship aid")
    MEDICAL_AID = "medical_aid", _("Medical aid")
    SCHOOLING_AID = "schooling_aid", _("Children's schooling aid")
    LEGAL_ADVICE = "legal_advice", _("Legal advice")
    OTHER = "other", pgettext_lazy("case category", "Other")


class Route(models.TextChoices):
    """Which union a category goes to first."""

    GRASSROOTS = "grassroots", _("The worker's grassroots union")
    PARENT = "parent", _("The union above the worker's grassroots union")
    COUNTY = "county", _("The county (or higher) federation above the worker")


# (acknowledge within, resolve within) working days, and the first handler, per category.
# A CategoryPolicy row overrides these.
DEFAULT_POLICIES: dict[str, tuple[int, int, str]] = {
    CaseCategory.WAGES: (1, 15, Route.GRASSROOTS),
    CaseCategory.CONTRACT: (2, 15, Route.GRASSROOTS),
    CaseCategory.SOCIAL_INSURANCE: (2, 20, Route.GRASSROOTS),
    CaseCategory.HOURS: (2, 15, Route.GRASSROOTS),
    CaseCategory.SAFETY: (1, 10, Route.GRASSROOTS),
    CaseCategory.HARDSHIP: (3, 20, Route.GRASSROOTS),
    CaseCategory.MEDICAL_AID: (3, 20, Route.GRASSROOTS),
    CaseCategory.SCHOOLING_AID: (3, 20, Route.GRASSROOTS),
    CaseCategory.LEGAL_ADVICE: (2, 10, Route.COUNTY),
    CaseCategory.OTHER: (3, 15, Route.GRASSROOTS),
}


class CategoryPolicy(models.Model):
    """Deadlines and first handler of a category (set in the back office)."""

    category = models.CharField(
        _("category"), max_length=20, choices=CaseCategory.choices, unique=True
    )
    ack_days = models.PositiveSmallIntegerField(_("acknowledge within (working days)"))
    resolve_days = models.PositiveSmallIntegerField(_("resolve within (working days)"))
    route = models.CharField(_("handled first by"), max_length=12, choices=Route.choices)

    class Meta:
        verbose_name = _("case category policy")
        verbose_name_plural = _("case category policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(resolve_days__gte=models.F("ack_days")) & Q(ack_days__gte=1),
                name="policy_resolve_after_ack",
            )
        ]

    def __str__(self) -> str:
        return self.get_category_display()


class WorkCalendarDay(models.Model):
    """An exception to the Monday–Friday week: a public holiday on a weekday (not a
    workday) or a make-up workday on a weekend (调休上班). Set per year."""

    day = models.DateField(_("day"), unique=True)
    is_workday = models.BooleanField(_("workday"))
    note = models.CharField(_("note"), max_length=40, blank=True, default="")

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("working-day calendar")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.note}"


class CaseStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("case status", "Awaiting acceptance")
    IN_PROGRESS = "in_progress", pgettext_lazy("case status", "Being handled")
    CLOSED = "closed", pgettext_lazy("case status", "Closed")


class Outcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    REFERRED_ARBITRATION = "arbitration", _("Referred to labour arbitration")
    REFERRED_LEGAL_AID = "legal_aid", _("Referred to legal aid")
    OUT_OF_REMIT = "out_of_remit", _("Not within the union's remit")
    WITHDRAWN = "withdrawn", _("Withdrawn by the worker")


class Channel(models.TextChoices):
    APP = "app", _("Filed by the worker")
    PHONE = "phone", _("Phone call")
    VISIT = "visit", _("Visit")
    LETTER = "letter", _("Letter")


class ContactPreference(models.TextChoices):
    MESSAGE = "message", _("Messages here")
    PHONE = "phone", _("Phone call")
    VISIT = "visit", _("In person")


class CaseQuerySet(ScopedQuerySet):
    def restrict(self, user: Any, perm: str = Perm.CASE_HANDLE) -> CaseQuerySet:
        """The cases `user` may read: see the module docstring. `perm` is ignored: case
        visibility is one rule, whatever the caller is about to do."""
        if is_unrestricted(user):
            return self.all()
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        q = (
            scope_q(user, Perm.CASE_SUPERVISE, "handling_org")
            | (scope_q(user, Perm.CASE_HANDLE, "handling_org") & Q(handler__isnull=True))
            | Q(handler=user)
            | Q(member__user=user)
        )
        return self.filter(q)


class Case(models.Model):
    number = models.CharField(_("case number"), max_length=20, unique=True, editable=False)
    # No index of its own: `case_member_idx` leads with it.
    member = models.ForeignKey(
        "orgs.Member",
        verbose_name=_("worker"),
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,
    )
    # The worker's unit when filed: where routing started.
    unit = models.ForeignKey(
        "orgs.Org", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="+"
    )
    category = models.CharField(_("category"), max_length=20, choices=CaseCategory.choices)
    title = models.CharField(_("subject"), max_length=100)
    description = models.TextField(_("what happened"))
    contact_preference = models.CharField(
        _("how to contact me"),
        max_length=8,
        choices=ContactPreference.choices,
        default=ContactPreference.MESSAGE,
    )
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True, default="")
    conceal_from_employer_union = models.BooleanField(
        _("skip my own union"),
        default=False,
        help_text=_(
            "The union of my employer must not see this request: it goes to the union above."
        ),
    )
    channel = models.CharField(_("filed by"), max_length=8, choices=Channel.choices)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filed_at = models.DateTimeField(_("filed at"))
    filed_on = models.DateField(editable=False)

    # No index of its own: `case_org_status_idx` leads with it.
    handling_org = models.ForeignKey(
        "orgs.Org",
        verbose_name=_("handled by"),
        on_delete=models.PROTECT,
        related_name="cases_handled",
        db_index=False,
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("case handler"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases_assigned",
    )
    status = models.CharField(
        _("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.NEW
    )
    # Deadlines of the current handling union (renewed on escalation or transfer) ...
    ack_due = models.DateField(_("acknowledge by"))
    resolve_due = models.DateField(_("resolve by"))
    # ... and the first ones, promised to the worker: on-time figures are counted on these.
    first_ack_due = models.DateField(editable=False)
    first_resolve_due = models.DateField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True)
    first_accepted_on = models.DateField(null=True, blank=True, editable=False)
    overdue = models.BooleanField(_("overdue"), default=False)
    escalations = models.PositiveSmallIntegerField(default=0, editable=False)

    outcome = models.CharField(
        _("outcome"), max_length=12, choices=Outcome.choices, blank=True, default=""
    )
    outcome_note = models.TextField(_("outcome and reasons"), blank=True, default="")
    money_recovered = models.PositiveIntegerField(_("money recovered (yuan)"), default=0)
    aid_paid = models.PositiveIntegerField(_("aid paid (yuan)"), default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    # Working days from filing to closing.
    working_days_taken = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    rating = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)
    rating_comment = models.CharField(_("comment"), max_length=500, blank=True, default="")
    rated_on = models.DateField(null=True, blank=True)
    reopened = models.BooleanField(default=False, editable=False)
    # The deadline a reminder was last sent for: never twice for the same one.
    reminded_due = models.DateField(null=True, blank=True, editable=False)
    # Sent by the phone with the form: a retried submission files nothing twice.
    submission_key = models.CharField(max_length=64, blank=True, default="", editable=False)

    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()
    scope_org_field = "handling_org"

    class Meta:
        verbose_name = _("worker case")
        verbose_name_plural = _("worker cases")
        ordering = ["-filed_at", "-id"]
        indexes = [
            models.Index(fields=["handling_org", "status"], name="case_org_status_idx"),
            models.Index(fields=["status", "ack_due"], name="case_status_ack_idx"),
            models.Index(fields=["status", "resolve_due"], name="case_status_resolve_idx"),
            models.Index(fields=["member", "filed_at"], name="case_member_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="case_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | ~Q(outcome=""),
                name="case_closed_has_outcome",
            ),
            models.UniqueConstraint(
                fields=["member", "submission_key"],
                condition=~Q(submission_key=""),
                name="one_case_per_submission",
            ),
        ]

    def __str__(self) -> str:
        # Never the worker's name: this text reaches audit entries and notifications.
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status != CaseStatus.CLOSED


class EventKind(models.TextChoices):
    FILED = "filed", _("Filed")
    ROUTED = "routed", _("Routed")
    ACCEPTED = "accepted", _("Accepted")
    ASSIGNED = "assigned", _("Assigned")
    CONTACTED = "contacted", _("Worker contacted")
    NOTE = "note", _("Internal note")
    MESSAGE = "message", _("Message")
    TRANSFERRED = "transferred", _("Transferred")
    ESCALATED = "escalated", _("Escalated")
    OVERDUE = "overdue", _("Overdue")
    CLOSED = "closed", _("Closed")
    RATED = "rated", _("Rated")
    REOPENED = "reopened", _("Reopened")


# Steps the worker sees on their timeline; internal notes and routing details are not.
WORKER_VISIBLE_EVENTS = (
    EventKind.FILED,
    EventKind.ACCEPTED,
    EventKind.CONTACTED,
    EventKind.MESSAGE,
    EventKind.TRANSFERRED,
    EventKind.ESCALATED,
    EventKind.CLOSED,
    EventKind.RATED,
    EventKind.REOPENED,
)


class CaseEvent(models.Model):
    """One step on a case's timeline. Escalations are also a figure of the union they
    left (`cases.escalated`), so they keep from_org and their day."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    at = models.DateTimeField()
    day = models.DateField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Shown instead of an account: "系统" for the sweep, the worker's name for their messages.
    actor_name = models.CharField(max_length=150, blank=True, default="")
    by_worker = models.BooleanField(default=False)
    text = models.TextField(blank=True, default="")
    from_org = models.ForeignKey("orgs.Org", null=True, on_delete=models.PROTECT, related_name="+")
    to_org = models.ForeignKey("orgs.Org", null=True, on_delete=models.PROTECT, related_name="+")
    automatic = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["kind", "day"], name="case_event_kind_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"

    @property
    def worker_visible(self) -> bool:
        return self.kind in WORKER_VISIBLE_EVENTS


class CaseAttachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    event = models.ForeignKey(
        CaseEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to="cases/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_worker = models.BooleanField(default=False)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


# --- hardship aid files -----------------------------------------------------------------


class HardshipLevel(models.TextChoices):
    DEEP = "deep", _("Deep hardship")
    RELATIVE = "relative", _("Relative hardship")
    SUDDEN = "sudden", _("Sudden hardship (accident or disaster)")


class HardshipCause(models.TextChoices):
    ILLNESS = "illness", _("Serious illness")
    DISABILITY = "disability", _("Disability")
    UNEMPLOYMENT = "unemployment", _("Unemployment of family members")
    SCHOOLING = "schooling", _("Children's schooling")
    DISASTER = "disaster", _("Accident or disaster")
    SINGLE_PARENT = "single_parent", _("Single-parent family")
    OTHER = "other", pgettext_lazy("hardship cause", "Other")


class HardshipStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("hardship status", "Receiving aid")
    LIFTED = "lifted", _("Out of hardship")


class HardshipFile(models.Model):
    """困难职工档案: one family's situation and the aid it received, kept by a union.
    Personal data: only roles with `Perm.HARDSHIP_VIEW` on the union read it."""

    member = models.ForeignKey(
        "orgs.Member",
        verbose_name=_("worker"),
        on_delete=models.PROTECT,
        related_name="hardship_files",
    )
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("kept by"), on_delete=models.PROTECT, related_name="+"
    )
    level = models.CharField(_("level"), max_length=10, choices=HardshipLevel.choices)
    causes = models.JSONField(_("causes"), default=list)
    family_size = models.PositiveSmallIntegerField(_("family members"))
    monthly_income_per_capita = models.PositiveIntegerField(
        _("monthly income per family member (yuan)")
    )
    situation = models.TextField(_("family situation"))
    status = models.CharField(
        _("status"), max_length=8, choices=HardshipStatus.choices, default=HardshipStatus.ACTIVE
    )
    review_due = models.DateField(_("next review"))
    reviewed_on = models.DateField(_("last reviewed"), null=True, blank=True)
    lifted_on = models.DateField(null=True, blank=True)
    opened_on = models.DateField(_("opened on"))
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="hardship_files"
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("hardship aid file")
        verbose_name_plural = _("hardship aid files")
        ordering = ["review_due", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(status="active"),
                name="one_active_hardship_file_per_member",
            )
        ]

    def __str__(self) -> str:
        return f"{_('Hardship aid file')} #{self.pk}"


class AidKind(models.TextChoices):
    CASH = "cash", _("Cash aid")
    GOODS = "goods", _("Goods")
    MEDICAL = "medical", _("Medical aid")
    SCHOOLING = "schooling", _("Schooling aid")
    EMPLOYMENT = "employment", _("Job placement or training")
    OTHER = "other", pgettext_lazy("aid kind", "Other")


class AidRecord(models.Model):
    """One aid given to a family (送温暖, 金秋助学...)."""

    file = models.ForeignKey(HardshipFile, on_delete=models.CASCADE, related_name="aid")
    # The union that gave it: its figures (`hardship.aid_paid`) count there.
    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=AidKind.choices)
    amount = models.PositiveIntegerField(_("amount (yuan)"), default=0)
    given_on = models.DateField(_("given on"))
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-given_on", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"
