"""Labour and skill competitions (劳动和技能竞赛): registration, judging, rankings, awards.

A `Competition` is organised by a union for members in its subtree, in one or more
`Discipline`s (工种: 电工, 焊工, 数控车工…), each with a scoring sheet of `Criterion`s
(theory and practical parts, maximum marks, weights that add up to 100). Members register
(`Entry`, alone or as a team), their union approves within a quota per unit, and each
approved entry gets an anonymous number. `Judge`s of a discipline see entries only by
number and enter `Mark`s per criterion; the chief judge confirms, which combines the
judges' marks (mean, or dropping the highest and lowest), totals, ranks with explicit
tie-breaks and locks the scores; a later correction is a `MarkCorrection` with a reason.
Published results give `Award`s (tiers, titles such as 技术能手) and certificates.

A competition can be a stage of a higher one (`parent`): its top `advance_count` entries
per discipline may be nominated (`Nomination`) to the parent, checked against results.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet


class CompetitionKind(models.TextChoices):
    SKILL = "skill", _("Skill competition")
    LABOUR = "labour", _("Labour competition")


class CompetitionStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("competition status", "Draft")
    OPEN = "open", pgettext_lazy("competition status", "Open")
    JUDGING = "judging", pgettext_lazy("competition status", "Judging")
    PUBLISHED = "published", pgettext_lazy("competition status", "Results published")
    CANCELLED = "cancelled", pgettext_lazy("competition status", "Cancelled")


class EntryKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individuals")
    TEAM = "team", _("Teams")


class CombineRule(models.TextChoices):
    MEAN = "mean", _("Mean of the judges' marks")
    TRIMMED = "trimmed", _("Mean after dropping the highest and the lowest mark")


class CertificateLevel(models.TextChoices):
    NONE = "none", _("No vocational certificate")
    LEVEL5 = "5", _("Level 5 (junior worker)")
    LEVEL4 = "4", _("Level 4 (intermediate worker)")
    LEVEL3 = "3", _("Level 3 (senior worker)")
    LEVEL2 = "2", _("Level 2 (technician)")
    LEVEL1 = "1", _("Level 1 (senior technician)")


class Competition(models.Model):
    org = models.ForeignKey(
        "orgs.Org", verbose_name=_("organised by"), on_delete=models.PROTECT, related_name="+"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("stage of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stages",
        help_text=_("The higher competition this one qualifies for."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=CompetitionKind.choices)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=CompetitionStatus.choices,
        default=CompetitionStatus.DRAFT,
    )
    entry_kind = models.CharField(
        _("entries"), max_length=10, choices=EntryKind.choices, default=EntryKind.INDIVIDUAL
    )
    team_size = models.PositiveSmallIntegerField(_("members per team"), default=1)
    registration_opens_at = models.DateTimeField(_("registration opens"))
    registration_closes_at = models.DateTimeField(_("registration closes"))
    held_on = models.DateField(_("held on"), null=True, blank=True)
    # Eligibility: members of the organiser's subtree, within these rules.
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    unit_approval = models.BooleanField(_("the member's union approves entries"), default=True)
    quota_per_unit = models.PositiveSmallIntegerField(
        _("entries per grassroots union"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    combine_rule = models.CharField(
        _("combining the judges' marks"),
        max_length=8,
        choices=CombineRule.choices,
        default=CombineRule.MEAN,
    )
    advance_count = models.PositiveSmallIntegerField(
        _("nominated to the next stage"),
        default=0,
        help_text=_("The top N of each discipline may be nominated to the higher competition."),
    )
    requirement = models.ForeignKey(
        "notices.Requirement",
        verbose_name=_("meets notice requirement"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="competitions",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_on = models.DateField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("competition")
        verbose_name_plural = _("competitions")
        ordering = ["-registration_opens_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(registration_closes_at__gt=models.F("registration_opens_at")),
                name="competition_registration_window",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Discipline(models.Model):
    """工种: one event of a competition with its scoring sheet."""

    # No index of its own: `one_discipline_name` leads with it.
    competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="disciplines", db_index=False
    )
    name = models.CharField(_("trade"), max_length=60)
    min_certificate = models.CharField(
        _("lowest certificate"),
        max_length=4,
        choices=CertificateLevel.choices,
        default=CertificateLevel.NONE,
    )
    # A theory part may be a quiz of the learning app: its best score is the mark.
    theory_quiz = models.ForeignKey(
        "learning.Quiz",
        verbose_name=_("theory test"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    scores_confirmed_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "name"], name="one_discipline_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def locked(self) -> bool:
        return self.scores_confirmed_at is not None


class CriterionPart(models.TextChoices):
    THEORY = "theory", _("Theory")
    PRACTICAL = "practical", _("Practical task")


class Criterion(models.Model):
    discipline = models.ForeignKey(Discipline, on_delete=models.CASCADE, related_name="criteria")
    part = models.CharField(_("part"), max_length=10, choices=CriterionPart.choices)
    name = models.CharField(_("criterion"), max_length=100)
    max_marks = models.DecimalField(_("maximum marks"), max_digits=6, decimal_places=2)
    # Percentage points of the total: the criteria of a discipline add up to 100.
    weight = models.DecimalField(_("weight (per cent)"), max_digits=5, decimal_places=2)
    # Tie-breaks: equal totals are ordered by these criteria, 1 first.
    tie_break = models.PositiveSmallIntegerField(_("tie-break order"), null=True, blank=True)
    from_quiz = models.BooleanField(_("marked by the theory test"), default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(max_marks__gt=0), name="criterion_max_positive"),
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lte=100), name="criterion_weight_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EntryStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting the union's approval")
    APPROVED = "approved", pgettext_lazy("entry status", "Approved")
    REJECTED = "rejected", pgettext_lazy("entry status", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("entry status", "Withdrawn")


class EntryQuerySet(ScopedQuerySet):
    pass


class Entry(models.Model):
    """A registration: one member, or a team led by one member."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="entries")
    discipline = models.ForeignKey(Discipline, on_delete=models.CASCADE, related_name="entries")
    member = models.ForeignKey(
        "orgs.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    team_name = models.CharField(_("team name"), max_length=60, blank=True, default="")
    team_members = models.ManyToManyField(
        "orgs.Member", verbose_name=_("team members"), blank=True, related_name="+"
    )
    # The grassroots union the entry counts for (quota, approval, figures).
    unit = models.ForeignKey(
        "orgs.Org", verbose_name=_("union"), on_delete=models.PROTECT, related_name="+"
    )
    certificate = models.CharField(
        _("vocational certificate"),
        max_length=4,
        choices=CertificateLevel.choices,
        default=CertificateLevel.NONE,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=EntryStatus.choices, default=EntryStatus.PENDING
    )
    number = models.CharField(_("entry number"), max_length=12, blank=True, default="")
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    registered_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True, default="")
    # People taking part through this entry: 1, or the team's size (参赛人次).
    people = models.PositiveSmallIntegerField(default=1)
    # Results, written when the chief judge confirms.
    total = models.DecimalField(max_digits=7, decimal_places=3, null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)

    objects = EntryQuerySet.as_manager()
    # Seen by the cadres of the entry's union and of the organiser.
    scope_org_field = ("unit", "competition__org")
    scope_owner_field = "member__user"

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        ordering = ["discipline_id", "number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["competition", "member"],
                condition=~Q(status__in=["withdrawn", "rejected"]),
                name="one_live_entry_per_member",
            ),
            models.UniqueConstraint(
                fields=["competition", "number"],
                condition=~Q(number=""),
                name="one_entry_number",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"


class Judge(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="judges")
    # No index of its own: `one_judge_seat` leads with it.
    discipline = models.ForeignKey(
        Discipline, on_delete=models.CASCADE, related_name="judges", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judging"
    )
    chief = models.BooleanField(_("chief judge"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["discipline", "user"], name="one_judge_seat"),
            models.UniqueConstraint(
                fields=["discipline"], condition=Q(chief=True), name="one_chief_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.discipline}"


class Mark(models.Model):
    """One judge's mark for one entry on one criterion."""

    # No index of its own: `one_mark_per_judge` leads with it.
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="marks", db_index=False)
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="marks")
    judge = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    value = models.DecimalField(max_digits=6, decimal_places=2)
    entered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "criterion", "judge"], name="one_mark_per_judge"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="mark_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.entry_id}/{self.criterion_id}: {self.value}"


class MarkCorrection(models.Model):
    """A mark changed after the chief judge locked the scores: who, why, from what."""

    mark = models.ForeignKey(Mark, on_delete=models.CASCADE, related_name="corrections")
    before = models.DecimalField(max_digits=6, decimal_places=2)
    after = models.DecimalField(max_digits=6, decimal_places=2)
    reason = models.CharField(max_length=300)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.before} → {self.after}"


class Award(models.Model):
    """A tier of awards of a discipline: ranks from..to get it (一等奖, 技术能手…)."""

    discipline = models.ForeignKey(Discipline, on_delete=models.CASCADE, related_name="awards")
    name = models.CharField(_("award"), max_length=40)
    title = models.CharField(
        _("honorary title"), max_length=40, blank=True, default="", help_text=_("e.g. 技术能手")
    )
    from_rank = models.PositiveSmallIntegerField(_("from rank"))
    to_rank = models.PositiveSmallIntegerField(_("to rank"))

    class Meta:
        ordering = ["from_rank", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(to_rank__gte=models.F("from_rank")) & Q(from_rank__gte=1),
                name="award_rank_range",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Nomination(models.Model):
    """A lower stage sends one of its top entries on to the higher competition."""

    entry = models.OneToOneField(Entry, on_delete=models.CASCADE, related_name="nomination")
    to_competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="nominations"
    )
    to_entry = models.OneToOneField(
        Entry, null=True, on_delete=models.SET_NULL, related_name="nominated_from"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.entry} → {self.to_competition}"
