"""What every benchmark shares: where the bench databases are, running `gonghui` as a child
process, timing, tables and the results JSON. Importing this module points in-process
Django at the bench database (never the development one)."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SERVER = os.environ.get("GONGHUI_BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("GONGHUI_BENCH_DB", "gonghui_bench")
SCALE = os.environ.get("GONGHUI_BENCH_SCALE", "sichuan")  # tiny/small to try the runner
VAR_DIR = REPO / "var" / "bench"
GONGHUI = [str(REPO / ".venv" / "bin" / "gonghui")]
ROOT_CODE = "51"
CITY_CODE = "5101"  # 成都市; the benchmarks fall back to the city with most members
COUNTY_CODE = "510107"  # 成都市武侯区; the benchmarks fall back to the largest county

# In-process Django uses the bench database too (the rollup benchmark's child process
# overrides this with its copy before Django starts).
os.environ["DATABASE_URL"] = f"{SERVER}/{DB}"
os.environ["GONGHUI_VAR_DIR"] = str(VAR_DIR)
# As in production: no debug cursor recording every query (GONGHUI_DEBUG=1 to override).
os.environ.setdefault("GONGHUI_DEBUG", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
sys.path.insert(0, str(REPO / "src"))


def admin_connect(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(f"{SERVER}/{dbname}", autocommit=True)


def db_exists(name: str) -> bool:
    with admin_connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def drop_db(name: str) -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_db(name: str, template: str | None = None) -> None:
    with admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def query(dbname: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with admin_connect(dbname) as conn:
        return conn.execute(sql, params).fetchall()


def setup_django() -> None:
    import django

    django.setup()


def close_django_connections() -> None:
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()


def run_gonghui(
    args: list[str], dbname: str, *, check: bool = True, database_url: str | None = None
) -> dict[str, Any]:
    """Run `gonghui ARGS` against `dbname`; wall time, max RSS of that child, output."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url or f"{SERVER}/{dbname}",
        "GONGHUI_VAR_DIR": str(VAR_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        GONGHUI + args,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        print("    | " + line.rstrip()[:150], flush=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        raise SystemExit(f"gonghui {' '.join(args)} failed ({proc.returncode})")
    return {
        "seconds": round(seconds, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "exit_code": proc.returncode,
        "output": "".join(lines)[-2000:],
    }


def table(title: str, headers: list[str], rows: list[list[Any]], left: int = 1) -> None:
    """Print a table; the first `left` columns are left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i >= left else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        info["postgres"] = query("postgres", "SHOW server_version")[0][0]
    except Exception:  # a SQLite-only run needs no server
        info["postgres"] = None
    return info


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "at": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"  -> {path.relative_to(REPO)}")
    return path


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[float, float, Any]:
    """(median ms, min ms, result) of `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), result


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(times_ms: Sequence[float]) -> dict[str, Any]:
    if not times_ms:
        return {"n": 0}
    return {
        "n": len(times_ms),
        "median_ms": round(statistics.median(times_ms), 3),
        "p95_ms": round(percentile(times_ms, 95), 3),
        "min_ms": round(min(times_ms), 3),
        "max_ms": round(max(times_ms), 3),
    }


def sample(
    fn: Callable[[], Any], *, runs: int, budget_s: float, min_runs: int = 3
) -> tuple[list[float], Any]:
    """Times (ms) of up to `runs` runs of `fn` after one warm-up run, stopping early once
    `budget_s` seconds are spent and at least `min_runs` ran; and the last result."""
    result = fn()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < runs and (len(times) < min_runs or time.perf_counter() < deadline):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
