"""Notices (通知) and their way down the tree.

A Notice is issued by an org to an audience in its subtree. Issuing creates one Dispatch
per org of the audience at once, so every level sees the notice the same minute. A Relay
(转发) is an intermediate org passing the notice on to its own subtree with extra
requirements and earlier deadlines; the dispatches below it carry the effective (earliest)
deadlines. Each dispatch is acknowledged (签收), planned (实施方案) and reported (报送);
reports are reviewed by the parent union, and keep every version.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.orgs.models import OrgKind
from gonghui.orgs.scoping import ScopedQuerySet


class NoticeStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    CLOSED = "closed", _("Closed")


class Notice(models.Model):
    issuer = models.ForeignKey(
        "orgs.Org", verbose_name=_("issued by"), on_delete=models.PROTECT, related_name="notices"
    )
    title = models.CharField(_("title"), max_length=200)
    doc_number = models.CharField(
        _("document number"),
        max_length=60,
        blank=True,
        default="",
        help_text=_("e.g. 川工发〔2026〕12号"),
    )
    doc_year = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    body = models.TextField(_("text"), blank=True, default="")
    # Audience: the issuer's subtree (without the issuer), narrowed to these kinds and/or
    # to the subtrees of these orgs. Empty means no narrowing.
    audience_kinds = models.JSONField(_("kinds of union"), default=list, blank=True)
    audience_orgs = models.ManyToManyField(
        "orgs.Org",
        verbose_name=_("only these unions and those below them"),
        blank=True,
        related_name="+",
    )
    requires_ack = models.BooleanField(_("acknowledgement required"), default=True)
    ack_due = models.DateField(_("acknowledge by"), null=True, blank=True)
    report_due = models.DateField(_("report by"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=NoticeStatus.choices, default=NoticeStatus.DRAFT
    )
    corrects = models.ForeignKey(
        "self",
        verbose_name=_("corrects notice"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    audience_size = models.PositiveIntegerField(default=0, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "issuer"

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-issued_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "doc_year", "doc_number"],
                condition=~models.Q(doc_number=""),
                name="one_doc_number_per_issuer_and_year",
            )
        ]

    def __str__(self) -> str:
        return f"{self.doc_number} {self.title}".strip()

    @property
    def is_draft(self) -> bool:
        return self.status == NoticeStatus.DRAFT


class RequirementKind(models.TextChoices):
    STUDY = "study", _("Study")
    TRAINING = "training", _("Training")
    LECTURE = "lecture", _("Lecture")
    COMPETITION = "competition", _("Competition")
    SERVICE = "service", _("Service to workers")
    PUBLICITY = "publicity", _("Publicity")
    OTHER = "other", _("Other")


class Measure(models.TextChoices):
    PER_UNIT = "per_unit", _("at least N in every union of a kind")
    # xgettext:no-python-format
    SHARE = "share", _("at least P% of members reached")
    TOTAL = "total", _("at least N in the whole subtree")
    NONE = "none", _("described in words")


class Requirement(models.Model):
    """One measurable thing a notice (or a relay) asks for."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="requirements")
    relay = models.ForeignKey(
        "Relay", null=True, blank=True, on_delete=models.CASCADE, related_name="requirements"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=RequirementKind.choices)
    title = models.CharField(_("requirement"), max_length=200)
    measure = models.CharField(
        _("target"), max_length=10, choices=Measure.choices, default=Measure.NONE
    )
    threshold = models.DecimalField(
        _("N or P"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    unit_kind = models.CharField(
        _("in every"), max_length=16, choices=OrgKind.choices, blank=True, default=""
    )
    due = models.DateField(_("deadline"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["relay_id", "position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def target_text(self) -> str:
        from django.utils.translation import gettext as _t

        # "80", "1.5": not "8E+1" (what normalize() alone gives for 80.00).
        n = format(self.threshold.normalize(), "f") if self.threshold is not None else ""
        if self.measure == Measure.PER_UNIT:
            kind = OrgKind(self.unit_kind).label if self.unit_kind else _t("union")
            return _t("≥%(n)s in every %(kind)s") % {"n": n, "kind": kind}
        if self.measure == Measure.SHARE:
            return _t("≥%(n)s%% of members reached") % {"n": n}
        if self.measure == Measure.TOTAL:
            return _t("≥%(n)s in total") % {"n": n}
        return ""


ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024


class Attachment(models.Model):
    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="notices/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Relay(models.Model):
    """An org passes the notice on to its subtree with its own additions (转发)."""

    # No index of its own: `one_relay_per_org` leads with it.
    notice = models.ForeignKey(
        Notice, on_delete=models.CASCADE, related_name="relays", db_index=False
    )
    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True, default="")
    doc_number = models.CharField(_("document number"), max_length=60, blank=True, default="")
    ack_due = models.DateField(_("acknowledge by"), null=True, blank=True)
    report_due = models.DateField(_("report by"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        ordering = ["org__depth"]
        constraints = [models.UniqueConstraint(fields=["notice", "org"], name="one_relay_per_org")]

    def __str__(self) -> str:
        return f"{self.org} → {self.notice}"


class ReportStatus(models.TextChoices):
    NONE = "", _("Not reported")
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    RETURNED = "returned", _("Returned")


class Dispatch(models.Model):
    """The notice at one org of its audience (下发), and that org's progress on it."""

    # A notice to the province writes ~120,000 dispatches in one INSERT … SELECT of the
    # audience's orgs, under the notice's row lock: their keys exist by construction, and
    # deferred foreign-key checks (one trigger per row at COMMIT) were half the issuing
    # time. The ORM still cascades and protects; orgs are dissolved, never deleted.
    # Single-column indexes are left out: one_dispatch_per_org (notice, org) and
    # dispatch_org_idx (org, notice) lead with each key.
    notice = models.ForeignKey(
        Notice,
        on_delete=models.CASCADE,
        related_name="dispatches",
        db_index=False,
        db_constraint=False,
    )
    org = models.ForeignKey(
        "orgs.Org",
        on_delete=models.PROTECT,
        related_name="dispatches",
        db_index=False,
        db_constraint=False,
    )
    # Effective deadlines: the earliest of the notice's and of every relay above.
    ack_due = models.DateField(null=True, blank=True)
    report_due = models.DateField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # partial index below: a new dispatch has none
    )
    plan = models.TextField(_("implementation plan"), blank=True, default="")
    planned_at = models.DateTimeField(null=True, blank=True)
    report_status = models.CharField(
        max_length=10, choices=ReportStatus.choices, blank=True, default=ReportStatus.NONE
    )
    reported_at = models.DateTimeField(null=True, blank=True)  # first submission
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Set by the deadline sweep while the step is late and still not done.
    ack_overdue = models.BooleanField(default=False)
    report_overdue = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("dispatch")
        verbose_name_plural = _("dispatches")
        constraints = [
            models.UniqueConstraint(fields=["notice", "org"], name="one_dispatch_per_org")
        ]
        indexes = [
            models.Index(fields=["org", "notice"], name="dispatch_org_idx"),
            models.Index(fields=["ack_due"], name="dispatch_ack_due_idx"),
            models.Index(fields=["report_due"], name="dispatch_report_due_idx"),
            models.Index(
                fields=["acknowledged_by"],
                name="dispatch_ack_by_idx",
                condition=models.Q(acknowledged_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.notice} → {self.org}"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class Report(models.Model):
    """One submission of a dispatch's report; every resubmission is a new row."""

    # No index of its own: `one_report_per_submission` leads with it.
    dispatch = models.ForeignKey(
        Dispatch, on_delete=models.CASCADE, related_name="reports", db_index=False
    )
    figures = models.JSONField(_("figures"), default=dict)
    narrative = models.TextField(_("what was done"), blank=True, default="")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    # The form's one-time token: a double click or a retry returns this same report.
    submission_key = models.CharField(max_length=40)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.SUBMITTED
    )
    review_comment = models.TextField(_("comment"), blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispatch", "submission_key"], name="one_report_per_submission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dispatch} @ {self.submitted_at:%Y-%m-%d}"


class Evidence(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(upload_to="reports/%Y/%m/")
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class ReminderKind(models.TextChoices):
    ACK = "ack", _("Acknowledge")
    REPORT = "report", _("Report")


class Reminder(models.Model):
    """A nudge (催办) to a late or nearly late dispatch; kept as the record of chasing."""

    # No index of its own: `one_reminder_per_key` leads with it.
    dispatch = models.ForeignKey(
        Dispatch, on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    kind = models.CharField(max_length=8, choices=ReminderKind.choices)
    # "manual:<id of the sender's batch>" or "auto:<deadline>:<days before>", unique per
    # dispatch so a retried action or sweep sends nothing twice.
    key = models.CharField(max_length=60)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["dispatch", "key"], name="one_reminder_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dispatch}"
