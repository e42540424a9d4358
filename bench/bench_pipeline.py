"""End-to-end throughput of the real pipeline: import → RQ → run_worker → database + images.

Why: bench_inference.py times the engine alone; production throughput also pays for Redis,
the database, status transitions, image storage and several workers sharing the CPU. This
bench runs the real commands (`migrate`, `ensure_default_model`, `import_tracks`,
`run_worker --child`) against a throwaway state folder, SQLite (or a temporary PostgreSQL
database) and one dedicated Redis DB, so it never touches a developer's data.

    .venv/bin/python bench/bench_pipeline.py [--workers 1,2] [--copies 3]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import soundfile as sf
from common import (
    REPO,
    OtherLoad,
    bench_redis,
    cpu_description,
    describe,
    recordings,
    shared_audio_dir,
    synthetic_signal,
)
from tqdm import tqdm

PYTHON = sys.executable
DONE = ("awaiting_review", "reviewed", "failed")
STAGES = ("decode", "mel", "model", "attention", "render", "total")
JOB_ID = re.compile(r"\((analysis-t\d+-m\d+)\)")  # RQ logs "<queue>: <description> (<job id>)" at job start
JOB_DONE = re.compile(r"Successfully completed .* in (\d+):(\d+):([\d.]+)s")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Worker:
    """One `run_worker --child` process and what its log told us (wall-clock times)."""

    proc: subprocess.Popen
    log_path: Path
    ready_at: float | None = None
    job_starts: dict[str, float] = field(default_factory=dict)
    job_seconds: list[float] = field(default_factory=list)  # as RQ reports them, in order


@dataclass
class RunResult:
    """One row of the tables: a run with `workers` worker processes."""

    workers: int
    tracks: int
    audio_min: float
    wall_s: float
    failed: int
    load_s: float
    first_job_s: float  # mean over workers of their first job: lazy imports the warm-up does not cover
    later_job_s: float  # median of every other job
    stage_ms: dict[str, float]
    others: float | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to try, comma-separated")
    parser.add_argument("--copies", type=int, default=3, help="copies of each recording (distinct bytes)")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server URL: each run gets a temporary "
        "database on it (created and dropped). Default: SQLite in the temp folder",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="a Redis DB the bench may FLUSH (default: a redis-server of its own on a free port)",
    )
    parser.add_argument("--shared", type=Path, default=None, help="folder holding audio/ (default: ../shared)")
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for each worker (default: unset, torch uses every core)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the temp folders (logs, database) for inspection")
    args = parser.parse_args()
    args.worker_counts = [int(k) for k in args.workers.split(",") if k.strip()]
    if args.copies < 1 or not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--copies and every --workers count must be at least 1")
    if args.redis_url and urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        parser.error("refusing to flush Redis DB 0 (the app's default): pick a dedicated DB, e.g. /14")
    return args


def write_scaled(source: Path, target: Path, gain: float, block_frames: int = 65536) -> None:
    """Re-encode `source` into `target` (same format) times `gain`, block by block: libvorbis
    overflows its stack when a whole track is written in one call (libsndfile issue #1095)."""
    info = sf.info(str(source))
    with sf.SoundFile(str(target), "w", info.samplerate, info.channels, info.subtype, format=info.format) as out:
        for block in sf.blocks(str(source), blocksize=block_frames, dtype="float32", always_2d=True):
            out.write(block * gain)


def make_copies(sources: list[Path], copies: int, folder: Path) -> list[Path]:
    """Copy 0 is the file itself; copy c is re-encoded in its own format with gain 1 - c·1e-4
    (-0.001 dB per step: inaudible, but new bytes, so the importer's sha256 check sees a new track)."""
    folder.mkdir(parents=True)
    made = []
    for source in sources:
        for c in range(copies):
            target = folder / f"{source.stem}.copy{c}{source.suffix}"
            if c == 0:
                shutil.copyfile(source, target)
            else:
                write_scaled(source, target, 1 - c * 1e-4)
            made.append(target)
    return made


def synthetic_sources(folder: Path) -> list[Path]:
    """Used only when the shared recordings are absent: a 30-s and a 3-min synthetic WAV."""
    folder.mkdir(parents=True)
    paths = []
    for name, seconds, seed in (("synthetic-30s.wav", 30, 1), ("synthetic-3min.wav", 180, 2)):
        sf.write(str(folder / name), synthetic_signal(seconds, 22050, seed), 22050, subtype="PCM_16")
        paths.append(folder / name)
    return paths


@contextmanager
def temporary_database(server_url: str, var_dir: Path, tag: str) -> Iterator[str]:
    """SQLite inside var_dir, or a fresh PostgreSQL database on `server_url`, dropped afterwards."""
    if not server_url:
        yield f"sqlite:///{var_dir / 'bench.sqlite3'}"
        return
    import psycopg2

    parts = urlsplit(server_url)
    name = f"acousticsense_bench_{os.getpid()}_{tag}"
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Read straight from the database (no Django process per poll: that would steal CPU)."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url[len("sqlite:///") :], timeout=30)) as conn:
            return conn.execute(sql).fetchall()
    import psycopg2

    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def manage(env: dict[str, str], *args: str) -> str:
    """Run one management command to completion; its output on failure."""
    proc = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _follow(worker: Worker) -> None:
    """Copy a worker's output to its log file, noting when it listens and when each job starts."""
    with worker.log_path.open("w") as log:
        for line in worker.proc.stdout:  # type: ignore[union-attr]
            now = time.time()
            log.write(line)
            plain = ANSI.sub("", line)
            if worker.ready_at is None and "Listening on" in plain:
                worker.ready_at = now
            match = JOB_ID.search(plain)
            if match and "Job OK" not in plain:
                worker.job_starts.setdefault(match.group(1), now)
            done = JOB_DONE.search(plain)
            if done:
                h, m, sec = done.groups()
                worker.job_seconds.append(int(h) * 3600 + int(m) * 60 + float(sec))


def start_workers(count: int, env: dict[str, str], log_dir: Path) -> list[Worker]:
    """`run_worker --child` processes (the real worker, without the recycling supervisor).

    Each gets its own session, so a Ctrl-C in the terminal reaches only the bench, which then
    stops them cleanly (SIGTERM: RQ finishes the current job and exits)."""
    workers = []
    for i in range(count):
        proc = subprocess.Popen(
            [PYTHON, "manage.py", "run_worker", "--child"],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(proc, log_dir / f"worker-{i + 1}.log")
        threading.Thread(target=_follow, args=(worker,), daemon=True).start()
        workers.append(worker)
    return workers


def stop_workers(workers: list[Worker], grace_s: float = 30) -> None:
    """SIGTERM each worker's process group, then SIGKILL whatever is left after `grace_s`."""
    for w in workers:
        if w.proc.poll() is None:
            os.killpg(w.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for w in workers:
        try:
            w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(w.proc.pid, signal.SIGKILL)
            w.proc.wait()


def wait_until(condition: Any, timeout_s: float, what: str, workers: list[Worker], poll_s: float = 0.2) -> float:
    """Poll `condition()` until true; returns the time it became true. Fails fast if a worker dies."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        dead = [w for w in workers if w.proc.poll() is not None]
        if dead:
            raise RuntimeError(
                f"a worker exited ({dead[0].proc.returncode}) while waiting for {what}; see {dead[0].log_path}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
    return time.time()


def bench_env(var_dir: Path, database_url: str, args: argparse.Namespace) -> dict[str, str]:
    """The developer's environment minus anything that points at their data, plus the bench's own."""
    private = {
        "MEDIA_ROOT",
        "STATIC_ROOT",
        "ACOUSTICSENSE_MODELS_DIR",
        "ACOUSTICSENSE_MODEL_CHECKPOINT",
        "DATABASE_URL",
        "REDIS_URL",
        "OMP_NUM_THREADS",
    }
    env = {k: v for k, v in os.environ.items() if k not in private}
    env.update(
        ACOUSTICSENSE_VAR_DIR=str(var_dir),
        DATABASE_URL=database_url,
        REDIS_URL=args.redis_url,
        ACOUSTICSENSE_ENV="local",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if args.threads_per_worker > 0:
        env["OMP_NUM_THREADS"] = str(args.threads_per_worker)
    return env


def wait_for_analyses(database_url: str, total: int, timeout_s: float, workers: list[Worker]) -> float:
    """Poll until every track is awaiting review, reviewed or failed; returns that moment."""
    done_sql = f"SELECT COUNT(*) FROM catalog_track WHERE status IN {DONE!r}"
    with tqdm(total=total, desc=f"{len(workers)} worker(s)", unit="track", leave=False, file=sys.stderr) as bar:

        def finished() -> bool:
            done = query(database_url, done_sql)[0][0]
            if done > bar.n:
                bar.update(done - bar.n)
            return done >= total

        return wait_until(finished, timeout_s, "the analyses", workers)


def stage_medians(database_url: str) -> dict[str, float]:
    """Median per stage over every stored analysis (as the worker recorded it in timings_ms)."""
    rows = [
        r[0] if isinstance(r[0], dict) else json.loads(r[0])
        for r in query(database_url, "SELECT timings_ms FROM catalog_analysis")
    ]
    return {s: statistics.median(t.get(s, 0.0) for t in rows) if rows else float("nan") for s in STAGES}


def run_once(count: int, files_dir: Path, root: Path, args: argparse.Namespace) -> RunResult:
    """Fresh state → `count` workers listening → import (queues every track) → wait → stop."""
    var_dir = root / f"workers-{count}"
    var_dir.mkdir()
    with temporary_database(args.database_url, var_dir, str(count)) as database_url:
        env = bench_env(var_dir, database_url, args)
        redis.Redis.from_url(args.redis_url).flushdb()
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_default_model")
        workers: list[Worker] = []
        try:
            with OtherLoad() as others:
                launched = time.time()
                workers = start_workers(count, env, var_dir)
                wait_until(lambda: all(w.ready_at for w in workers), 300, "the workers to load the model", workers)
                manage(env, "import_tracks", str(files_dir), "--name", f"bench {count} worker(s)")
                total = query(database_url, "SELECT COUNT(*) FROM catalog_track")[0][0]
                end = wait_for_analyses(database_url, total, args.timeout, workers)
                stop_workers(workers)  # reaped inside the block: their CPU time counts as ours
        finally:
            stop_workers(workers)
        starts = [t for w in workers for t in w.job_starts.values()]
        firsts = [w.job_seconds[0] for w in workers if w.job_seconds]
        laters = [t for w in workers for t in w.job_seconds[1:]]
        counts = dict(query(database_url, "SELECT status, COUNT(*) FROM catalog_track GROUP BY status"))
        audio_s = query(database_url, "SELECT SUM(duration_s) FROM catalog_track")[0][0] or 0.0
        return RunResult(
            workers=count,
            tracks=total,
            audio_min=audio_s / 60,
            wall_s=end - min(starts, default=end),
            failed=counts.get("failed", 0),
            load_s=max(w.ready_at for w in workers) - launched,
            first_job_s=statistics.fmean(firsts) if firsts else float("nan"),
            later_job_s=statistics.median(laters) if laters else float("nan"),
            stage_ms=stage_medians(database_url),
            others=others.cores,
        )


def print_tables(results: list[RunResult]) -> None:
    """Throughput table, then the per-job stage medians (they show what the workers fight over)."""
    print(
        "\n| workers | tracks | audio min | wall s | tracks/min | audio-min per wall-min | failed "
        "| model load s | first job s | other jobs s (median) | other procs' cores |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        others = "?" if r.others is None else f"{r.others:.1f}"
        print(
            f"| {r.workers} | {r.tracks} | {r.audio_min:.1f} | {r.wall_s:.1f} | {r.tracks / r.wall_s * 60:.1f} "
            f"| {r.audio_min / (r.wall_s / 60):.1f} | {r.failed} | {r.load_s:.1f} | {r.first_job_s:.1f} "
            f"| {r.later_job_s:.2f} | {others} |"
        )
    print("\nPer job, median ms as recorded by the workers (Analysis.timings_ms):\n")
    print("| workers | " + " | ".join(STAGES) + " |")
    print("|---:|" + "---:|" * len(STAGES))
    for r in results:
        print(f"| {r.workers} | " + " | ".join(f"{r.stage_ms[s]:.0f}" for s in STAGES) + " |")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill <bench>` cleans up like Ctrl-C
    print(cpu_description())
    with bench_redis(args.redis_url) as redis_url:
        args.redis_url = redis_url
        bench(args)


def bench(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="acousticsense-pipeline-"))
    threads = args.threads_per_worker or "torch default"
    print(
        f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"torch threads per worker: {threads}; database: {'PostgreSQL' if args.database_url else 'SQLite'}; "
        f"Redis: {args.redis_url} (flushed before each run); state in {root}"
    )
    try:
        shared = shared_audio_dir(args.shared)
        sources = recordings(shared)
        if not sources:
            print(f"no recordings at {shared}: using a synthetic 30-s and 3-min track instead")
            sources = synthetic_sources(root / "synthetic")
        files_dir = root / "import"
        files = make_copies(sources, args.copies, files_dir)
        print(f"importing {len(files)} files ({len(sources)} recordings × {args.copies} copies)")
        results = []
        for count in args.worker_counts:
            results.append(run_once(count, files_dir, root, args))
            print(f"{count} worker(s): {results[-1].wall_s:.1f} s; {describe(results[-1].others)}")
        print_tables(results)
    except KeyboardInterrupt:
        print("\ninterrupted: workers stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        if args.keep:
            print(f"kept {root} (worker logs, database, media)")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
