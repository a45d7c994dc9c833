"""Issuing a notice to the whole province: `notices.services.issue_notice` at Sichuan scale.

`python bench/run.py dispatch` makes, per run, a throw-away copy of the bench database
(CREATE DATABASE gonghui_bench_dispatch TEMPLATE gonghui_bench), runs this file as a child
process pointed at the copy (Django starts once, on the right database), and drops the copy,
so every run starts from the same state. In each copy, for each audience:

- ours: `create_notice` + `issue_notice` by the system actor, the issue call timed as the
  issuer's request (it is one transaction: the dispatch rows by one `INSERT … SELECT`, the
  audience facts by another, the notice, the audit entry, the commit); then the supervision
  page's read for that notice at the root (`notices.selectors.supervision`) `--reads` times,
  right after issuing, while the audience facts are still pending;
- naive: the same rows the usual ORM way, on a notice of its own: the audience's ids read
  into Python, `Dispatch.objects.bulk_create` of one object per org and
  `FactDelta.objects.bulk_create` of its audience fact (`--naive-batch` rows per statement),
  the notice updated and audited, one transaction.

The two alternate which goes first from run to run. The last run then folds everything
pending (timed), reads the supervision page again, and the parent runs
`gonghui rebuild_rollups --check` on the copy, which must exit 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    DB,
    REPO,
    ROOT_CODE,
    SERVER,
    VAR_DIR,
    admin_connect,
    close_django_connections,
    db_exists,
    drop_db,
    ms,
    percentile,
    query,
    run_gonghui,
    save,
    table,
)

DISPATCH_DB = f"{DB}_dispatch"
GOAL_S = 3.0
# (label, audience kinds): no kinds is every active org below the issuer (workshops and
# teams too); the four kinds are the demo notice's audience (川工发〔…〕12号).
CASES = (
    ("whole subtree", []),
    ("city+county+township+grassroots", ["city", "county", "township", "grassroots"]),
)


# --- parent: a copy per run, the child, the check, the table -----------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dispatch")
    group.add_argument(
        "--dispatch-runs", type=int, default=3, help="runs, each in a fresh copy (median)"
    )
    group.add_argument("--reads", type=int, default=20, help="supervision reads after issuing")
    group.add_argument(
        "--naive-batch", type=int, default=1000, help="rows per bulk_create of the baseline"
    )


def copy_db(name: str) -> float:
    """A fresh copy of the bench database; seconds it took. FILE_COPY: the copy is a
    checkpoint and a file copy rather than the whole database through the WAL."""
    started = time.perf_counter()
    drop_db(name)
    with admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{DB}" STRATEGY FILE_COPY')
    return time.perf_counter() - started


def bench_dispatch(args: argparse.Namespace) -> dict[str, Any]:
    if not db_exists(DB) or not query(DB, "SELECT EXISTS (SELECT 1 FROM orgs_org)")[0][0]:
        raise SystemExit(f"dispatch: no demo in {DB}; run `python bench/run.py demo` first")
    close_django_connections()
    runs: list[dict[str, Any]] = []
    check: dict[str, Any] = {}
    url = f"{SERVER}/{DISPATCH_DB}"
    try:
        for number in range(1, args.dispatch_runs + 1):
            last = number == args.dispatch_runs
            copy_s = copy_db(DISPATCH_DB)
            # The code may have gained migrations since the demo was built.
            run_gonghui(["migrate", "--noinput", "-v", "0"], DISPATCH_DB)
            print(f"dispatch: run {number} in {DISPATCH_DB} ({copy_s:.1f} s to copy)", flush=True)
            out = Path(tempfile.mkstemp(prefix="gonghui-dispatch-", suffix=".json")[1])
            child = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--database-url",
                url,
                "--out",
                str(out),
                f"--run={number}",
                f"--reads={args.reads}",
                f"--naive-batch={args.naive_batch}",
                *(["--naive-first"] if number % 2 == 0 else []),
                *(["--finish"] if last else []),
            ]
            try:
                env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
                code = subprocess.run(child, env=env, cwd=REPO, check=False).returncode
                if code != 0:
                    raise SystemExit(f"dispatch: the benchmark process failed ({code})")
                run = json.loads(out.read_text())
            finally:
                out.unlink(missing_ok=True)
            run["copy_db_s"] = round(copy_s, 1)
            runs.append(run)
            if last:
                print("dispatch: gonghui rebuild_rollups --check", flush=True)
                result = run_gonghui(["rebuild_rollups", "--check"], DISPATCH_DB, check=False)
                check = {
                    "seconds": result["seconds"],
                    "exit_code": result["exit_code"],
                    "output": result["output"][-500:],
                }
            drop_db(DISPATCH_DB)
    finally:
        drop_db(DISPATCH_DB)
    data = summarise(runs, check, args)
    report(data)
    save("dispatch", data)
    return data


def med(values: list[float]) -> float:
    return statistics.median(values)


def summarise(runs: list[dict[str, Any]], check: dict[str, Any], args: argparse.Namespace):
    cases = []
    for label, kinds in CASES:
        per_run = [next(c for c in run["cases"] if c["label"] == label) for run in runs]
        ours_s = [c["ours"]["issue_s"] for c in per_run]
        naive_s = [c["naive"]["issue_s"] for c in per_run]
        rows = per_run[0]["ours"]["rows"]
        reads = [t for c in per_run for t in c["ours"].get("supervision_ms", [])]
        cases.append(
            {
                "label": label,
                "audience_kinds": kinds,
                "rows": rows,
                "rows_by_kind": per_run[0]["ours"]["rows_by_kind"],
                "same_rows_every_run": all(
                    c["ours"]["rows"] == rows and c["naive"]["rows"] == rows for c in per_run
                ),
                "ours_issue_s": ours_s,
                "ours_median_s": round(med(ours_s), 3),
                "ours_rows_per_s": round(rows / med(ours_s)),
                "ours_statements_median": {
                    k: round(med([c["ours"]["statements"][k] for c in per_run]), 3)
                    for k in per_run[0]["ours"]["statements"]
                },
                "create_notice_ms_median": round(med([c["ours"]["create_ms"] for c in per_run]), 1),
                "naive_issue_s": naive_s,
                "naive_median_s": round(med(naive_s), 3),
                "naive_rows_per_s": round(rows / med(naive_s)),
                "naive_statements_median": {
                    k: round(med([c["naive"]["statements"][k] for c in per_run]), 3)
                    for k in per_run[0]["naive"]["statements"]
                },
                "ratio_naive_over_ours": round(med(naive_s) / med(ours_s), 2),
                "supervision_after_issue": {
                    "n": len(reads),
                    "p50_ms": round(percentile(reads, 50), 2) if reads else None,
                    "p95_ms": round(percentile(reads, 95), 2) if reads else None,
                    "per_run_p50_p95_ms": [
                        [
                            round(percentile(c["ours"]["supervision_ms"], 50), 2),
                            round(percentile(c["ours"]["supervision_ms"], 95), 2),
                        ]
                        for c in per_run
                        if c["ours"].get("supervision_ms")
                    ],
                    "pending_facts_at_read": [c["ours"].get("pending_at_read") for c in per_run],
                    "root_audience_figure_ok": all(
                        c["ours"].get("supervision_ok", False) for c in per_run
                    ),
                },
                "goal_s": GOAL_S,
                "goal_met": med(ours_s) <= GOAL_S,
            }
        )
    finish = runs[-1].get("finish", {})
    return {
        "runs": len(runs),
        "reads": args.reads,
        "naive_batch": args.naive_batch,
        "orgs": runs[0]["orgs"],
        "cases": cases,
        "finish": finish,
        "rebuild_check": check,
        "rebuild_check_clean": check.get("exit_code") == 0,
        "load_average_per_run": [r["load_before"] + r["load_after"] for r in runs],
        "copy_db_s": [r["copy_db_s"] for r in runs],
        "per_run": runs,
    }


def report(data: dict[str, Any]) -> None:
    rows = []
    for c in data["cases"]:
        sup = c["supervision_after_issue"]
        rows.append(
            [
                c["label"],
                f"{c['rows']:,}",
                f"{c['ours_median_s']:.2f}",
                f"{c['ours_rows_per_s']:,}",
                f"{c['naive_median_s']:.2f}",
                f"{c['naive_rows_per_s']:,}",
                f"{c['ratio_naive_over_ours']:.1f}×",
                f"{ms(sup['p50_ms'])} / {ms(sup['p95_ms'])}",
                "yes" if c["goal_met"] else "no",
            ]
        )
    table(
        f"dispatch: issue_notice from the province root, median of {data['runs']} runs in "
        f"fresh copies (goal ≤{GOAL_S:g} s)",
        [
            "audience",
            "dispatch rows",
            "issue s",
            "rows/s",
            "naive s",
            "naive rows/s",
            "naive/ours",
            "supervision p50/p95 ms",
            "goal met",
        ],
        rows,
    )
    detail = []
    for c in data["cases"]:
        st = c["ours_statements_median"]
        detail.append(
            [
                c["label"],
                " ".join(f"{s:.2f}" for s in c["ours_issue_s"]),
                f"{st['dispatch_insert_s']:.2f}",
                f"{st['facts_insert_s']:.2f}",
                f"{st['other_s']:.3f} ({st['other_n']:.0f})",
                f"{st['commit_s']:.2f}",
                f"{st['rest_s']:.2f}",
                " ".join(f"{s:.2f}" for s in c["naive_issue_s"]),
                f"{c['naive_statements_median']['commit_s']:.2f}",
            ]
        )
    table(
        "dispatch: where ours spends it (median s; rest = Python), and every run of both",
        ["audience", "ours, runs", "dispatch INSERT", "facts INSERT", "other (n)", "COMMIT",
         "rest", "naive, runs", "naive COMMIT"],
        detail,
    )  # fmt: skip
    finish = data.get("finish") or {}
    check = data.get("rebuild_check") or {}
    fold = finish.get("fold", {})
    after = finish.get("supervision_after_fold", {})
    table(
        "dispatch: afterwards (last run)",
        ["what", "value"],
        [
            ["pending figure changes before the fold", f"{fold.get('pending', 0):,}"],
            ["fold_and_tidy (all of them, then VACUUM)", f"{fold.get('seconds', '?')} s, "
             f"{fold.get('per_s', 0):,}/s"],
            ["supervision read at the root after the fold, p50 / p95",
             f"{ms(after.get('p50_ms'))} / {ms(after.get('p95_ms'))} ms"],
            ["gonghui rebuild_rollups --check",
             f"{check.get('seconds', '?')} s, exit {check.get('exit_code', '?')}"],
            ["load average (1 min) per run, start → end",
             ", ".join(f"{la[0]:.1f} → {la[3]:.1f}" for la in data["load_average_per_run"])],
            ["database copy per run", " ".join(f"{s:.0f} s" for s in data["copy_db_s"])],
        ],
    )  # fmt: skip


# --- child: one copy, in one Django process ----------------------------------------------


class StatementTimer:
    """Wall time of each statement Django sends (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, float]] = []
        self.commits: list[float] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.items.append((sql, time.perf_counter() - started))

    def summary(self, total_s: float) -> dict[str, float]:
        kinds = {
            "dispatch": 'INSERT INTO "notices_dispatch"',
            "facts": 'INSERT INTO "stats_factdelta"',
        }
        out: dict[str, float] = {}
        for name, prefix in kinds.items():
            times = [t for sql, t in self.items if sql.startswith(prefix)]
            out[f"{name}_insert_s"], out[f"{name}_insert_n"] = round(sum(times), 4), len(times)
        other = [t for sql, t in self.items if not sql.startswith(tuple(kinds.values()))]
        out["other_s"], out["other_n"] = round(sum(other), 4), len(other)
        out["commit_s"] = round(sum(self.commits), 4)
        out["rest_s"] = round(total_s - sum(t for _sql, t in self.items) - sum(self.commits), 4)
        return out


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--naive-batch", type=int, default=1000)
    parser.add_argument("--naive-first", action="store_true")
    parser.add_argument("--finish", action="store_true")
    opts = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = opts.database_url
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns without it
    import django

    django.setup()
    data = Child(opts).run()
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False, default=str))


class Child:
    def __init__(self, opts: argparse.Namespace):
        from gonghui.orgs.models import Org

        self.opts = opts
        self.root = Org.objects.get(code=ROOT_CODE)
        self.reader = self.province_cadre()

    def province_cadre(self) -> Any:
        """Who reads the supervision page at the root: a cadre with a role there (as the
        province's own staff would), else an unsaved superuser."""
        from django.contrib.auth import get_user_model

        from gonghui.orgs import scoping
        from gonghui.orgs.models import Role
        from gonghui.orgs.scoping import Perm

        for role in Role.objects.filter(org=self.root).select_related("user").order_by("id"):
            user = role.user
            if (
                user.is_active
                and not user.is_superuser
                and scoping.can(user, Perm.NOTICE_REVIEW, self.root)
            ):
                return user
        return get_user_model()(username="bench", is_superuser=True, is_active=True)

    def run(self) -> dict[str, Any]:
        from gonghui.orgs.models import Org

        data: dict[str, Any] = {
            "run": self.opts.run,
            "naive_first": self.opts.naive_first,
            "load_before": [round(x, 2) for x in os.getloadavg()],
            "reader": getattr(self.reader, "username", "?"),
            "orgs": Org.objects.count(),
            "cases": [],
        }
        notices = {}
        for label, kinds in CASES:
            case: dict[str, Any] = {"label": label, "audience_kinds": kinds}
            order = ("naive", "ours") if self.opts.naive_first else ("ours", "naive")
            for approach in order:
                print(f"dispatch: run {self.opts.run}, {label}, {approach}", flush=True)
                result, notice = self.issue(label, kinds, approach)
                case[approach] = result
                if approach == "ours":
                    notices[label] = notice
                print(
                    f"    | {result['rows']:,} rows in {result['issue_s']:.2f} s"
                    + (
                        f"; supervision p50 {percentile(result['supervision_ms'], 50):.1f} ms"
                        if result.get("supervision_ms")
                        else ""
                    ),
                    flush=True,
                )
            data["cases"].append(case)
        if self.opts.finish:
            data["finish"] = self.finish(notices[CASES[0][0]])
        data["load_after"] = [round(x, 2) for x in os.getloadavg()]
        return data

    def new_notice(self, title: str, kinds: list[str]) -> tuple[Any, float]:
        from django.utils import timezone

        from gonghui.notices import services
        from gonghui.orgs.scoping import SYSTEM

        today = timezone.localdate()
        started = time.perf_counter()
        notice = services.create_notice(
            actor=SYSTEM,
            issuer=self.root,
            title=title,
            body="<p>各市（州）总工会，各县（市、区）总工会，各基层工会：……</p>",
            audience_kinds=kinds,
            requires_ack=True,
            ack_due=today + datetime.timedelta(days=7),
            report_due=today + datetime.timedelta(days=30),
        )
        return notice, (time.perf_counter() - started) * 1000

    def issue(self, label: str, kinds: list[str], approach: str) -> tuple[dict[str, Any], Any]:
        from django.db import connection
        from django.db.models import Count

        from gonghui.notices import services
        from gonghui.notices.models import Dispatch
        from gonghui.orgs.scoping import SYSTEM
        from gonghui.stats.models import FactDelta

        notice, create_ms = self.new_notice(
            f"基准测试：{label}，{approach}，第{self.opts.run}轮", kinds
        )
        timer = StatementTimer()
        commit = connection._commit  # timed apart: the deferred foreign-key checks run there

        def timed_commit() -> None:
            begun = time.perf_counter()
            try:
                commit()
            finally:
                timer.commits.append(time.perf_counter() - begun)

        connection._commit = timed_commit
        try:
            with connection.execute_wrapper(timer):
                started = time.perf_counter()
                if approach == "ours":
                    notice = services.issue_notice(actor=SYSTEM, notice=notice)
                else:
                    notice = naive_issue(notice, self.opts.naive_batch)
                seconds = time.perf_counter() - started
        finally:
            del connection._commit
        result: dict[str, Any] = {
            "notice_id": notice.pk,
            "create_ms": round(create_ms, 1),
            "issue_s": round(seconds, 4),
            "statements": timer.summary(seconds),
        }
        if approach == "ours":
            # The supervision page's read at the root, right after issuing: every audience
            # fact of the notice is still pending (nothing folds them meanwhile).
            result["pending_at_read"] = FactDelta.objects.count()
            result["supervision_ms"], head = self.supervision_reads(notice)
        rows = Dispatch.objects.filter(notice=notice)
        result["rows"] = rows.count()
        result["rows_by_kind"] = dict(
            rows.values_list("org__kind").annotate(n=Count("id")).order_by("org__kind")
        )
        result["rows_per_s"] = round(result["rows"] / seconds)
        result["audience_size"] = notice.audience_size
        if approach == "ours":
            result["supervision_ok"] = head.values.get("audience") == result["rows"]
        return result, notice

    def supervision_reads(self, notice: Any) -> tuple[list[float], Any]:
        from gonghui.notices import selectors

        times, head = [], None
        for _ in range(self.opts.reads):
            started = time.perf_counter()
            head, _children = selectors.supervision(notice, self.root, self.reader)
            times.append(round((time.perf_counter() - started) * 1000, 3))
        return times, head

    def finish(self, notice: Any) -> dict[str, Any]:
        from gonghui.notices.models import Dispatch
        from gonghui.stats import services as stats
        from gonghui.stats.models import FactDelta

        pending = FactDelta.objects.count()
        print(f"dispatch: folding {pending:,} pending figure changes", flush=True)
        started = time.perf_counter()
        # The worker's job: fold, then vacuum the queue's dead rows (the dashboards scan it).
        folded = stats.fold_and_tidy(max_rows=10**9)
        seconds = time.perf_counter() - started
        times, head = self.supervision_reads(notice)
        rows = Dispatch.objects.filter(notice=notice).count()
        return {
            "fold": {
                "pending": pending,
                "folded": folded,
                "seconds": round(seconds, 1),
                "per_s": round(folded / seconds) if seconds else None,
            },
            "supervision_after_fold": {
                "n": len(times),
                "p50_ms": round(percentile(times, 50), 2),
                "p95_ms": round(percentile(times, 95), 2),
                "times_ms": times,
                "root_audience_figure_ok": head.values.get("audience") == rows,
            },
        }


def naive_issue(notice: Any, batch: int) -> Any:
    """The same rows as issue_notice, the usual ORM way: ids into Python, bulk_create."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from gonghui.audit.models import AuditAction
    from gonghui.audit.services import record
    from gonghui.notices import figures, services
    from gonghui.notices.models import Dispatch, Notice, NoticeStatus
    from gonghui.orgs.scoping import SYSTEM
    from gonghui.stats.models import FactDelta

    with transaction.atomic():
        notice = Notice.objects.select_for_update().select_related("issuer").get(pk=notice.pk)
        ids = list(services.audience(notice).values_list("id", flat=True))
        ack_due = notice.ack_due if notice.requires_ack else None
        Dispatch.objects.bulk_create(
            [
                Dispatch(
                    notice=notice, org_id=org_id, ack_due=ack_due, report_due=notice.report_due
                )
                for org_id in ids
            ],
            batch_size=batch,
        )
        Notice.objects.filter(pk=notice.pk).update(
            status=NoticeStatus.ISSUED,
            issued_at=timezone.now(),
            issued_by=None,
            audience_size=len(ids),
            version=F("version") + 1,
        )
        notice.refresh_from_db()
        name, day = figures.metric(notice.pk, "audience"), figures.fact_day(notice)
        FactDelta.objects.bulk_create(
            [FactDelta(org_id=org_id, metric=name, day=day, delta=1) for org_id in ids],
            batch_size=batch,
        )
        record(
            actor=SYSTEM,
            action=AuditAction.UPDATE,
            target=notice,
            org=notice.issuer,
            summary=f"Issued to {len(ids)} unions",
            before={"status": NoticeStatus.DRAFT},
            after={"status": NoticeStatus.ISSUED, "audience": len(ids)},
        )
    return notice


if __name__ == "__main__":
    child_main(sys.argv[1:])
