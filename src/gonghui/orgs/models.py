"""The union tree (Org), the members registered to its units, and member transfers.

The tree is stored as a materialised path plus fixed ancestor columns (as DHIS2 does for
org units): every org knows the id of its ancestor at each depth, itself included at its
own depth. "The subtree of X" is then one indexed equality, ``ancestor_<depth of X> = X``,
whatever the size of the province, and never a recursive query.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gonghui.orgs.scoping import ScopedQuerySet

MAX_DEPTH = 10
ANCESTOR_FIELDS = tuple(f"ancestor_{d}" for d in range(MAX_DEPTH))
PATH_SEGMENT_WIDTH = 10


def ancestor_field(depth: int) -> str:
    return ANCESTOR_FIELDS[depth]


class OrgKind(models.TextChoices):
    PROVINCE = "province", _("Provincial federation")
    CITY = "city", _("City federation")
    COUNTY = "county", _("County federation")
    TOWNSHIP = "township", _("Township or street union")
    INDUSTRY = "industry", _("Industry union")
    GRASSROOTS = "grassroots", _("Grassroots union")
    BRANCH = "branch", _("Workshop or branch union")
    TEAM = "team", _("Team or group")


# Which kinds may sit directly under which. Industry unions (产业工会) hang under a
# federation and hold grassroots unions; large enterprises may affiliate directly to a
# city or county federation.
ALLOWED_CHILD_KINDS: dict[str, tuple[str, ...]] = {
    OrgKind.PROVINCE: (OrgKind.CITY, OrgKind.INDUSTRY, OrgKind.GRASSROOTS),
    OrgKind.CITY: (OrgKind.COUNTY, OrgKind.INDUSTRY, OrgKind.GRASSROOTS),
    OrgKind.COUNTY: (OrgKind.TOWNSHIP, OrgKind.INDUSTRY, OrgKind.GRASSROOTS),
    OrgKind.TOWNSHIP: (OrgKind.GRASSROOTS,),
    OrgKind.INDUSTRY: (OrgKind.INDUSTRY, OrgKind.GRASSROOTS),
    OrgKind.GRASSROOTS: (OrgKind.BRANCH, OrgKind.TEAM),
    OrgKind.BRANCH: (OrgKind.TEAM,),
    OrgKind.TEAM: (),
}

# Kinds that members may be registered to: a grassroots union and the units below it.
MEMBER_UNIT_KINDS = (OrgKind.GRASSROOTS, OrgKind.BRANCH, OrgKind.TEAM)


class Industry(models.TextChoices):
    MANUFACTURING = "manufacturing", _("Manufacturing")
    CONSTRUCTION = "construction", _("Construction")
    TRANSPORT = "transport", _("Transport and logistics")
    ENERGY = "energy", _("Energy and mining")
    RETAIL = "retail", _("Wholesale and retail")
    HOSPITALITY = "hospitality", _("Hotels and catering")
    IT = "it", _("Information technology")
    FINANCE = "finance", _("Finance")
    EDUCATION = "education", pgettext_lazy("industry", "Education")
    HEALTH = "health", _("Health care")
    AGRICULTURE = "agriculture", _("Agriculture")
    PUBLIC = "public", _("Public institutions")
    OTHER = "other", _("Other")


class OrgStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DISSOLVED = "dissolved", _("Dissolved")


class Org(models.Model):
    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_("Unique code of the union, used by imports and transfers."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=OrgKind.choices)
    # No index of its own: `org_parent_name_idx` leads with it.
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent union"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrgStatus.choices, default=OrgStatus.ACTIVE
    )
    industry = models.CharField(
        _("industry"), max_length=16, choices=Industry.choices, blank=True, default=""
    )
    division_code = models.CharField(
        _("administrative division code"), max_length=12, blank=True, default=""
    )
    address = models.CharField(_("address"), max_length=200, blank=True, default="")

    # Tree bookkeeping, written only by orgs.services.
    path = models.CharField(max_length=MAX_DEPTH * (PATH_SEGMENT_WIDTH + 1), editable=False)
    depth = models.PositiveSmallIntegerField(editable=False)
    ancestor_0 = models.BigIntegerField(null=True, editable=False)
    ancestor_1 = models.BigIntegerField(null=True, editable=False)
    ancestor_2 = models.BigIntegerField(null=True, editable=False)
    ancestor_3 = models.BigIntegerField(null=True, editable=False)
    ancestor_4 = models.BigIntegerField(null=True, editable=False)
    ancestor_5 = models.BigIntegerField(null=True, editable=False)
    ancestor_6 = models.BigIntegerField(null=True, editable=False)
    ancestor_7 = models.BigIntegerField(null=True, editable=False)
    ancestor_8 = models.BigIntegerField(null=True, editable=False)
    ancestor_9 = models.BigIntegerField(null=True, editable=False)

    # Search helpers: 成都市总工会 -> "chengdushizonggonghui" and "cdszgh".
    name_pinyin = models.CharField(max_length=400, editable=False, default="")
    name_initials = models.CharField(max_length=120, editable=False, default="")

    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    dissolved_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = ""

    class Meta:
        verbose_name = _("union")
        verbose_name_plural = _("unions")
        ordering = ["path"]
        indexes = [
            *[models.Index(fields=[f], name=f"org_{f}_idx") for f in ANCESTOR_FIELDS],
            models.Index(fields=["parent", "name"], name="org_parent_name_idx"),
            models.Index(fields=["path"], name="org_path_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(depth__lt=MAX_DEPTH), name="org_depth_within_limit"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this org, inclusive."""
        return [getattr(self, ancestor_field(d)) for d in range(self.depth + 1)]

    @property
    def member_count(self) -> int:
        """Active members registered directly to this org (not its subtree). Subtree
        figures come from the roll-ups (gonghui.stats)."""
        return self.members.filter(status=MemberStatus.ACTIVE).count()

    @property
    def is_member_unit(self) -> bool:
        return self.kind in MEMBER_UNIT_KINDS

    @property
    def is_active(self) -> bool:
        return self.status == OrgStatus.ACTIVE

    def is_descendant_of(self, other: Org, *, inclusive: bool = True) -> bool:
        if other.depth > self.depth:
            return False
        if getattr(self, ancestor_field(other.depth)) != other.pk:
            return False
        return inclusive or self.pk != other.pk


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    LEFT = "left", _("Left")


class Education(models.TextChoices):
    NONE = "", _("Not given")
    PRIMARY = "primary", _("Primary school")
    JUNIOR = "junior", _("Junior middle school")
    SENIOR = "senior", _("Senior middle school or technical school")
    COLLEGE = "college", _("Junior college")
    BACHELOR = "bachelor", _("Bachelor")
    MASTER = "master", _("Master or above")


class MemberSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    IMPORT = "import", _("Imported")
    DEMO = "demo", _("Synthetic demo data")


class Member(models.Model):
    unit = models.ForeignKey(
        Org,
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        related_name="members",
        db_index=False,  # member_unit_status_idx (unit, status) serves every lookup
    )
    name = models.CharField(_("name"), max_length=50)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, editable=False)
    birth_date = models.DateField(_("date of birth"), editable=False)
    # The ID number (身份证号) is personal data: stored encrypted, found by a keyed hash,
    # shown masked. See orgs.identity.
    id_number_cipher = models.TextField(editable=False)
    # Unique and indexed through Meta, not unique=True/db_index=True: those also build a
    # varchar_pattern_ops (LIKE) index on PostgreSQL, which no query uses and every
    # insert pays for.
    # 32 hex digits (identity.ID_HASH_LENGTH); the column stays varchar(64): narrowing it
    # would rewrite the table for nothing.
    id_number_hash = models.CharField(max_length=64, editable=False)
    id_number_masked = models.CharField(_("ID number"), max_length=18, editable=False)
    id_number_tail = models.CharField(max_length=4, editable=False)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True, default="")
    ethnicity = models.CharField(_("ethnic group"), max_length=20, blank=True, default="")
    education = models.CharField(
        _("education"), max_length=16, choices=Education.choices, blank=True, default=""
    )
    job = models.CharField(_("post or trade"), max_length=60, blank=True, default="")
    is_migrant_worker = models.BooleanField(_("migrant worker"), default=False)
    joined_on = models.DateField(_("joined the union on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    left_on = models.DateField(_("left on"), null=True, blank=True)
    left_reason = models.CharField(_("reason for leaving"), max_length=200, blank=True, default="")
    source = models.CharField(
        max_length=8, choices=MemberSource.choices, default=MemberSource.MANUAL, editable=False
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="member",
        verbose_name=_("worker account"),
    )
    name_pinyin = models.CharField(max_length=200, editable=False, default="")
    name_initials = models.CharField(max_length=50, editable=False, default="")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "unit"
    scope_owner_field = "user"

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["unit_id", "name", "id"]
        indexes = [
            models.Index(fields=["unit", "status"], name="member_unit_status_idx"),
            models.Index(fields=["id_number_tail"], name="member_id_tail_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], name="member_id_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.id_number_masked}）"

    @property
    def phone_masked(self) -> str:
        from gonghui.orgs.identity import mask_phone

        return mask_phone(self.phone)

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE


class TransferStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting the receiving union")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class MemberTransfer(models.Model):
    """会员接转: a member leaves one unit and joins another once the receiving side accepts."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="transfers"
    )
    from_unit = models.ForeignKey(
        Org, verbose_name=_("from unit"), on_delete=models.PROTECT, related_name="transfers_out"
    )
    to_unit = models.ForeignKey(
        Org, verbose_name=_("to unit"), on_delete=models.PROTECT, related_name="transfers_in"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TransferStatus.choices, default=TransferStatus.PENDING
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    decision_note = models.CharField(_("note"), max_length=200, blank=True, default="")

    objects = ScopedQuerySet.as_manager()
    # A transfer is visible from both sides: see ScopedQuerySet.restrict.
    scope_org_field = ("from_unit", "to_unit")

    class Meta:
        verbose_name = _("member transfer")
        verbose_name_plural = _("member transfers")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(status="pending"),
                name="one_pending_transfer_per_member",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member.name}: {self.from_unit} → {self.to_unit}"


class RoleKind(models.TextChoices):
    ADMIN = "admin", _("Union administrator")
    STAFF = "staff", _("Staff")
    VIEWER = "viewer", _("Viewer")
    EDITOR = "editor", _("Editor")
    CHIEF_EDITOR = "chief_editor", _("Responsible editor")
    JUDGE = "judge", _("Judge")
    CASE_HANDLER = "case_handler", _("Case handler")


class Role(models.Model):
    """A cadre's role at an org; covers the org's whole subtree unless org-only."""

    # No index of its own: `one_role_kind_per_org` leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="union_roles",
        db_index=False,
    )
    org = models.ForeignKey(
        Org, verbose_name=_("union"), on_delete=models.CASCADE, related_name="roles"
    )
    kind = models.CharField(_("role"), max_length=16, choices=RoleKind.choices)
    org_only = models.BooleanField(
        _("this union only"),
        default=False,
        help_text=_("If set, the role does not extend to the unions below."),
    )
    may_export_personal_data = models.BooleanField(
        _("may export personal data"),
        default=False,
        help_text=_("Allows exporting ID numbers and phone numbers of members in scope."),
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["org__path", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "org", "kind"], name="one_role_kind_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.org}: {self.get_kind_display()}"


class ImportJob(models.Model):
    """One upload of an org or member sheet and its outcome (all rows or none)."""

    class Kind(models.TextChoices):
        ORGS = "orgs", _("Unions")
        MEMBERS = "members", _("Members")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    org = models.ForeignKey(
        Org, verbose_name=_("union"), on_delete=models.CASCADE, related_name="import_jobs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(_("file"), max_length=200)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    imported_rows = models.PositiveIntegerField(_("imported"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    file_error = models.CharField(max_length=300, blank=True, default="")
    # The first errors for the page; every error is in errors_file.
    errors = models.JSONField(default=list, blank=True)
    errors_file = models.FileField(upload_to="import-errors/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    scope_org_field = "org"

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"


class MemberEventKind(models.TextChoices):
    JOINED = "joined", _("Joined")
    LEFT = "left", _("Left")
    TRANSFERRED_IN = "in", _("Transferred in")
    TRANSFERRED_OUT = "out", _("Transferred out")


class MemberEvent(models.Model):
    """A change of membership at a unit on a day: the fact behind member figures."""

    # Events are written only by the services, from the member rows they write or move in
    # the same transaction, so their keys are right by construction; the ORM still
    # cascades. Without the database's per-row key checks (and with the unit's lookups
    # served by the (unit, day) index), importing a million members writes their events
    # at the speed of the members themselves.
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="events", db_constraint=False
    )
    unit = models.ForeignKey(
        Org,
        on_delete=models.CASCADE,
        related_name="member_events",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=8, choices=MemberEventKind.choices)
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["unit", "day"], name="member_event_unit_day_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.unit_id} {self.day}"
