"""Roll-ups: every figure shown upward, kept per org and per subtree.

Domain services append facts as FactDelta rows (insert-only: no row is shared by
concurrent writers). A folding worker applies them in batches to

- OrgDayCount: the org's own figure per metric and day,
- SubtreeCount: the org's whole subtree per metric, all days,
- SubtreeDayCount: the same per day (for trends; kept for orgs down to TREND_DEPTH, the
  small subtrees below sum OrgDayCount instead),

so a dashboard reads O(children) rows whatever the size of the province. Distinct counts
(members reached, not check-ins) are kept exact through DistinctMark: the first fact of a
key (a member) in a bucket (all time, a year, a month) counts once, at the key's org.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

# Subtree-per-day rows are kept for orgs at this depth or above (province..grassroots).
TREND_DEPTH = 4

# The counters' org keys carry no database constraint: a rebuild inserts millions of
# counters at once, and deferred foreign-key checks would queue one trigger per row until
# the commit. The ORM still cascades an org's deletion, and forget_org clears them first.


class FactDelta(models.Model):
    """A change of one figure of one org on one day, waiting to be folded."""

    # No database constraint: a fact may outlive its org (see forget_org); the relation
    # lets reads join the org's ancestor columns.
    org = models.ForeignKey(
        "orgs.Org", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    metric = models.CharField(max_length=60)
    day = models.DateField()
    delta = models.BigIntegerField()

    class Meta:
        verbose_name = _("pending figure change")

    def __str__(self) -> str:
        return f"{self.org_id} {self.metric} {self.day} {self.delta:+d}"


class OrgDayCount(models.Model):
    # No index of its own: `one_org_day_count` leads with it.
    org = models.ForeignKey(
        "orgs.Org",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    metric = models.CharField(max_length=60)
    day = models.DateField()
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "metric", "day"], name="one_org_day_count")
        ]

    def __str__(self) -> str:
        return f"{self.org_id} {self.metric} {self.day} = {self.value}"


class SubtreeCount(models.Model):
    # No index of its own: `one_subtree_count` leads with it.
    org = models.ForeignKey(
        "orgs.Org",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    metric = models.CharField(max_length=60)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "metric"], name="one_subtree_count")]

    def __str__(self) -> str:
        return f"{self.org_id} {self.metric} = {self.value}"


class SubtreeDayCount(models.Model):
    # No index of its own: `one_subtree_day_count` leads with it.
    org = models.ForeignKey(
        "orgs.Org",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    metric = models.CharField(max_length=60)
    day = models.DateField()
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "metric", "day"], name="one_subtree_day_count")
        ]

    def __str__(self) -> str:
        return f"{self.org_id} {self.metric} {self.day} = {self.value}"


class DistinctMark(models.Model):
    """Key `key` (e.g. a member id) has been counted once for `metric` in `bucket`, at
    `org_id`, first on `day`."""

    metric = models.CharField(max_length=60)
    bucket = models.CharField(max_length=16)
    key = models.BigIntegerField()
    org_id = models.BigIntegerField()
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "bucket", "key"], name="one_distinct_mark")
        ]
        indexes = [models.Index(fields=["key"], name="distinct_mark_key_idx")]

    def __str__(self) -> str:
        return f"{self.metric}@{self.bucket} {self.key}"


class FoldState(models.Model):
    """One row: when the folding worker last caught up. Written only by the worker."""

    folded_at = models.DateTimeField(null=True)
    folded_total = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"folded {self.folded_total} at {self.folded_at}"
