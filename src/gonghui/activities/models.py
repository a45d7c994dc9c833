"""Activities (活动) and who was really there.

An Activity is organised by an org and held at a venue org in its subtree (itself, one of
its workshops or teams, or, for a lecture sent down (送学上门), a grassroots union below a
county). Its audience is the venue's subtree, narrowed by unit kinds or chosen units.
Members register (with a waiting list when full) and check in (签到) once each: by a
rotating QR code, a numeric code read aloud, the cadre's roster or an attendance sheet.

Reach is counted from these facts: a CheckIn counts its member as reached; a UnitReach
row records that an activity reached a unit (grassroots union, workshop or team) because
it was held there or one of its members attended.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet

# A check-in is accepted from this long before the start until this long after the end.
CHECK_IN_OPENS_BEFORE = datetime.timedelta(minutes=60)
CHECK_IN_CLOSES_AFTER = datetime.timedelta(minutes=60)


class ActivityKind(models.TextChoices):
    STUDY = "study", _("Study session")
    TRAINING = "training", _("Training")
    LECTURE = "lecture", _("Lecture")
    OTHER = "other", _("Other")


class ActivityStatus(models.TextChoices):
    PLANNED = "planned", pgettext_lazy("activity status", "Planned")
    HELD = "held", pgettext_lazy("activity status", "Held")
    CANCELLED = "cancelled", pgettext_lazy("activity status", "Cancelled")


class Activity(models.Model):
    # No index of their own: `activity_org_start_idx` and `activity_venue_start_idx` lead
    # with them.
    org = models.ForeignKey(
        "orgs.Org",
        verbose_name=_("organised by"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    venue_org = models.ForeignKey(
        "orgs.Org",
        verbose_name=_("held at"),
        on_delete=models.PROTECT,
        related_name="activities_held",
        help_text=_("The organiser itself, or a union below it (a lecture sent down)."),
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ActivityKind.choices)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    speaker = models.CharField(_("speaker"), max_length=100, blank=True, default="")
    place = models.CharField(_("place"), max_length=200, blank=True, default="")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    # Audience: members of the venue's subtree, narrowed to units of these kinds and/or to
    # the subtrees of these units. Empty means the whole venue subtree.
    audience_kinds = models.JSONField(_("kinds of unit"), default=list, blank=True)
    audience_units = models.ManyToManyField(
        "orgs.Org", verbose_name=_("only these units"), blank=True, related_name="+"
    )
    # The same units' ids, so that checking a member against the audience reads nothing.
    audience_unit_ids = models.JSONField(default=list, blank=True, editable=False)
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    registration_required = models.BooleanField(_("registration required"), default=False)
    requirement = models.ForeignKey(
        "notices.Requirement",
        verbose_name=_("meets notice requirement"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ActivityStatus.choices, default=ActivityStatus.PLANNED
    )
    # The day its facts are counted on (the local day of the start when it was held).
    held_on = models.DateField(null=True, blank=True, editable=False)
    cancelled_reason = models.CharField(max_length=200, blank=True, default="", editable=False)
    # Check-in secrets: the numeric code read aloud, and the key the rotating QR tokens
    # are signed with (a new one invalidates every token shown so far).
    check_in_code = models.CharField(max_length=6, editable=False, db_index=True)
    qr_secret = models.CharField(max_length=32, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = ("org", "venue_org")

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-starts_at", "-id"]
        indexes = [
            models.Index(fields=["venue_org", "starts_at"], name="activity_venue_start_idx"),
            models.Index(fields=["org", "starts_at"], name="activity_org_start_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="activity_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def check_in_opens_at(self) -> datetime.datetime:
        return self.starts_at - CHECK_IN_OPENS_BEFORE

    @property
    def check_in_closes_at(self) -> datetime.datetime:
        return self.ends_at + CHECK_IN_CLOSES_AFTER

    @property
    def check_in_open(self) -> bool:
        now = timezone.now()
        return (
            self.status != ActivityStatus.CANCELLED
            and self.check_in_opens_at <= now <= self.check_in_closes_at
        )

    @property
    def is_cancelled(self) -> bool:
        return self.status == ActivityStatus.CANCELLED

    @property
    def start_day(self) -> datetime.date:
        return timezone.localdate(self.starts_at)


class RegistrationStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Registered")
    WAITLISTED = "waitlisted", _("On the waiting list")
    CANCELLED = "cancelled", pgettext_lazy("registration status", "Cancelled")


class Registration(models.Model):
    # No index of its own: `one_registration` leads with it.
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="registrations", db_index=False
    )
    member = models.ForeignKey("orgs.Member", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=RegistrationStatus.choices)
    registered_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["registered_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "member"], name="one_registration")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.activity_id}: {self.status}"


class CheckInMethod(models.TextChoices):
    QR = "qr", _("QR code")
    CODE = "code", _("Check-in code")
    ROSTER = "roster", _("Roster")
    SHEET = "sheet", _("Attendance sheet")
    API = "api", _("Mobile app")


class CheckIn(models.Model):
    """One member present at one activity (unique), with how and by whom it was taken."""

    # No single-column indexes on these two: one_checkin (activity, member) and
    # checkin_member_day_idx (member, day) lead with them, and every check-in would
    # otherwise write two more index entries.
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="checkins", db_index=False
    )
    member = models.ForeignKey(
        "orgs.Member", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The member's unit at check-in: where the attendance reached.
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=8, choices=CheckInMethod.choices)
    at = models.DateTimeField(default=timezone.now)
    day = models.DateField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["activity", "member"], name="one_checkin")]
        indexes = [models.Index(fields=["member", "day"], name="checkin_member_day_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.activity_id}"


class UnitReach(models.Model):
    """An activity reached a unit: held there, or one of its members attended."""

    # No index of their own: `one_unit_reach` leads with the activity and
    # `unit_reach_unit_day_idx` with the unit (one index fewer to write per reach each).
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="unit_reach", db_index=False
    )
    unit = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+", db_index=False)
    unit_kind = models.CharField(max_length=16)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "unit"], name="one_unit_reach")]
        indexes = [models.Index(fields=["unit", "day"], name="unit_reach_unit_day_idx")]

    def __str__(self) -> str:
        return f"{self.activity_id} reached {self.unit_id}"


class CheckInRefusal(models.Model):
    """A refused check-in: the worker's record of why, and the numeric-code rate limit."""

    # No index of its own: `refusal_user_idx` leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    activity = models.ForeignKey(
        Activity, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    method = models.CharField(max_length=8, choices=CheckInMethod.choices)
    reason = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "method", "at"], name="refusal_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.reason}"


EVIDENCE_TYPES = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
EVIDENCE_MAX_BYTES = 20 * 1024 * 1024


class EvidenceKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    SHEET = "sheet", _("Scanned sign-in sheet")
    SLIDES = "slides", _("Slides")
    OTHER = "other", _("Other")


class Evidence(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(_("kind"), max_length=8, choices=EvidenceKind.choices)
    file = models.FileField(upload_to="activities/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
