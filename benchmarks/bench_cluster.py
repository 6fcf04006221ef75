"""The cost of running the workflow through SLURM: the same DAG on this machine and through a
one-node SLURM on it (the shipped profile, workflow/profiles/slurm), job by job.

Usage (as root, SLURM installed: apt-get install munge slurmctld slurmd slurm-client):
    .venv/bin/python benchmarks/bench_cluster.py [--out DIR] [--set KEY=VALUE ...]

Runs the demo's DAG (config/demo.yaml with device=auto, so training and evaluation ask for a
GPU; the node has two fake ones and the jobs train on the CPU) twice in fresh folders under
DIR: locally (`--cores 2 --resources gpu=2`, two pretend GPUs) and through SLURM (the shipped
profile with its two user lines set for the test node, 1000 MB per job, successful jobs'
logs kept; its status checks as shipped). Prints each run's wall time and, per SLURM job, the
time from its submission to the moment Snakemake saw it finish, the time its command took
(from the job's log: the Snakemake that ran it inside the job) and the difference: what SLURM
costs a job (waiting in the queue, two more Snakemake starts inside the job, status polling).
The one-node cluster is tests/slurm_cluster.py's, stopped at the end. Writes
DIR/bench_cluster.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the one-node SLURM of the tests

from slurm_cluster import LocalSlurm  # noqa: E402

BIN = Path(sys.executable).parent
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "params.yaml", "config", "notebooks")
SHIPPED_PROFILE = REPO_ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
ANNOUNCE = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")


SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid \d+ \(log: (.+)\)\.$")


def _stamp(line: str) -> float | None:
    match = STAMP.match(line.strip())
    if match is None:
        return None
    return datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()


def jobs_of(log: str) -> dict[str, dict]:
    """{"rule output": {"seconds": from the job's first announcement to its Finished line,
    "logs": its SLURM logs}} from a Snakemake log."""
    started: dict[str, tuple[str, float]] = {}
    done: dict[str, float] = {}
    slurm_logs: dict[str, list[Path]] = {}
    now = 0.0
    rule = output = None
    for line in log.splitlines():
        stripped = line.strip()
        if (stamp := _stamp(stripped)) is not None:
            now = stamp
        elif match := ANNOUNCE.match(stripped):
            rule, output = match.group(1), ""
        elif rule and stripped.startswith("output:"):
            output = stripped.split("output:", 1)[1].split(",")[0].strip()
        elif rule and stripped.startswith("jobid:"):
            jobid = stripped.split(":", 1)[1].strip()
            started.setdefault(jobid, (f"{rule} {output}".strip(), now))
            rule = None
        elif match := FINISHED.match(stripped):
            done[match.group(1)] = now
        elif match := SUBMITTED.match(stripped):
            slurm_logs.setdefault(match.group(1), []).append(Path(match.group(2)))
    return {
        name: {"seconds": done[jobid] - start, "logs": slurm_logs.get(jobid, [])}
        for jobid, (name, start) in started.items()
        if jobid in done
    }


def command_seconds(slurm_log: Path) -> float:
    """How long a SLURM job's command ran: inside the job, the Snakemake that srun starts
    announces the rule (the second announcement) and finishes it (the first Finished)."""
    stamps, now = [], 0.0
    for line in slurm_log.read_text().splitlines():
        if (stamp := _stamp(line)) is not None:
            now = stamp
        elif ANNOUNCE.match(line.strip()) or FINISHED.match(line.strip()):
            stamps.append((line.strip().startswith("Finished"), now))
    starts = [t for finished, t in stamps if not finished]
    ends = [t for finished, t in stamps if finished]
    return ends[0] - starts[1]


def run(workdir: Path, args: list[str], config: list[str], env: dict[str, str]) -> float:
    workdir.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        (workdir / name).symlink_to(REPO_ROOT / name)
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "snakemake"), *args, *config], cwd=workdir, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    wall = time.monotonic() - start
    (workdir / "snakemake.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"the run in {workdir} failed; see {workdir / 'snakemake.log'}")
    return wall


def bench_profile(folder: Path) -> Path:
    profile = yaml.safe_load(SHIPPED_PROFILE.read_text())
    profile["default-resources"].update(slurm_partition="main", slurm_account="", mem_mb=1000)
    for rule in profile["set-resources"].values():
        rule["mem_mb"] = 1000
    profile["slurm-keep-successful-logs"] = True
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-cluster"))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    out = args.out.resolve()
    sets = ["device=auto", *args.sets]
    config = ["--configfile", "config/demo.yaml", "--config", f"set={' '.join(sets)}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}

    local_env = {**env, "CUDA_VISIBLE_DEVICES": "0,1", "SRGAN_GPU_LOCK_DIR": str(out / "locks")}
    local_wall = run(out / "local", ["--cores", "2", "--resources", "gpu=2"], config, local_env)
    cluster = LocalSlurm(out / "cluster").start()
    try:
        profile = ["--workflow-profile", str(bench_profile(out / "profile"))]
        slurm_wall = run(out / "slurm", profile, config, cluster.env)
    finally:
        cluster.stop()

    local = jobs_of((out / "local" / "snakemake.log").read_text())
    slurm = jobs_of((out / "slurm" / "snakemake.log").read_text())
    rows = []
    for name, job in sorted(slurm.items()):
        if len(job["logs"]) != 1:  # a local rule (no SLURM job), or a job tried again
            continue
        command = command_seconds(job["logs"][0])
        rows.append((name, local[name]["seconds"], job["seconds"], command))
    print(f"{'SLURM job':50s} {'local s':>8s} {'SLURM s':>8s} {'command s':>9s} {'extra s':>8s}")
    for name, here, there, command in rows:
        print(f"{name[:50]:50s} {here:8.0f} {there:8.0f} {command:9.0f} {there - command:8.0f}")
    extra = [there - command for _, _, there, command in rows]
    summary = {
        "local_wall_s": round(local_wall),
        "slurm_wall_s": round(slurm_wall),
        "slurm_jobs": len(rows),
        "extra_per_job_s": {
            "median": round(statistics.median(extra)),
            "min": round(min(extra)),
            "max": round(max(extra)),
        },
        "load_average": os.getloadavg(),
        "date": datetime.date.today().isoformat(),
        "sets": sets,
    }
    print(json.dumps(summary, indent=1))
    (out / "bench_cluster.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
