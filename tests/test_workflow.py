"""The Snakemake workflow: dry runs, config validation, lint, the demo DAG (DVC: test_dvc.py).

Each Snakemake test runs in a fresh folder that links the project's workflow files, so the
checkout's own data/, runs/ and results/ never change what the workflow plans.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from srgan.core import paths, variants
from srgan.core.config import effective_text, merged_config_dict

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: What a workflow folder needs from the project.
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "params.yaml", "config", "notebooks")
VARIANTS = variants.NAMES
METHODS = (*variants.BASELINES, *VARIANTS)
PAPER_SETS = ("Set5", "Set14", "BSD100")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in WORKFLOW_FILES:
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def snakemake(workdir: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def planned_jobs(output: str) -> dict[str, list[str]]:
    """{rule: [its outputs, one string per job]} from a dry run's job listing."""
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            rule = match.group(1)
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith("output:"):
            jobs[rule].append(line.split("output:", 1)[1].strip())
    return jobs


def outputs(jobs: dict[str, list[str]], rule: str) -> set[str]:
    return {path for entry in jobs.get(rule, []) for path in entry.split(", ")}


# --- the paper's DAG ----------------------------------------------------------------------


#: The jobs of the paper's DAG (and of the quick profile's: the same DAG, shorter training).
PAPER_DAG_JOBS = {
    "download": 2,
    "fetch_benchmark": 3,
    "fetch_train": 1,
    "data_ready": 1,
    "train_identity": 5,
    "train_srresnet": 2,
    "train_srgan": 3,
    "evaluate_baseline": 2,
    "evaluate_model": 5,
    "build_tables": 1,
    "report_table": 2,
    "report_figures": 1,
    "report_index": 1,
    "all": 0,
}


@pytest.mark.process
@pytest.mark.parametrize(
    "profile", [[], ["--configfile", "config/quick.yaml"]], ids=["paper", "quick"]
)
def test_dry_run_lists_the_whole_paper_dag(workdir, profile):
    result = snakemake(workdir, "--dry-run", "--cores", "8", "--resources", "gpu=1", *profile)
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    assert {rule: len(found) for rule, found in jobs.items()} == PAPER_DAG_JOBS
    assert outputs(jobs, "download") == {
        "data/downloads/benchmark.tar",
        "data/downloads/DIV2K_train_HR.zip",
    }
    assert outputs(jobs, "fetch_train") == {"data/train/DIV2K", "data/checksums/DIV2K.sha256"}
    assert {f"data/test_sets/{name}" for name in PAPER_SETS} <= outputs(jobs, "fetch_benchmark")
    trained = outputs(jobs, "train_srresnet") | outputs(jobs, "train_srgan")
    assert trained == {f"runs/{v}/final.{ext}" for v in VARIANTS for ext in ("pt", "json")}
    evaluated = outputs(jobs, "evaluate_baseline") | outputs(jobs, "evaluate_model")
    assert {f"results/eval/{method}.json" for method in METHODS} <= evaluated
    assert outputs(jobs, "build_tables") == {
        f"results/tables/table{n}.{ext}" for n in (1, 2) for ext in ("csv", "json")
    }
    reports = (
        outputs(jobs, "report_table")
        | outputs(jobs, "report_figures")
        | outputs(jobs, "report_index")
    )
    assert {f"reports/{name}.html" for name in ("table1", "table2", "figures", "index")} <= reports
    # every SRGAN variant starts from the trained SRResNet-MSE; every model job asks for the GPU
    srgan_commands = [line for line in result.stdout.splitlines() if "srgan train srgan_" in line]
    assert len(srgan_commands) == 3
    assert all(f"--init runs/{variants.INIT}/final.pt" in line for line in srgan_commands)
    gpu_jobs = [
        line for line in result.stdout.splitlines() if "resources:" in line and "gpu=1" in line
    ]
    assert len(gpu_jobs) == 10  # 5 training + 5 evaluation jobs
    # every job reads the one effective configuration (the profile merged into it)
    for line in result.stdout.splitlines():
        if re.search(r"srgan (train|evaluate|tables|report|index) ", line):
            assert f"--params {paths.EFFECTIVE_CONFIG}" in line and "--config" not in line, line
    assert not (workdir / paths.EFFECTIVE_CONFIG).exists()  # a dry run writes nothing


@pytest.mark.process
def test_a_run_writes_the_effective_configuration_every_job_reads(workdir):
    """results/config.yaml: params.yaml, the profiles and the --config pairs merged once."""
    sets = "set=[train.srgan.lr=1.0e-5, mos.raters=3]"
    args = [str(paths.DATA_READY), "--cores", "1", "--configfile", "config/demo.yaml"]
    args += ["--config", sets]  # last: --config takes every value after it
    result = snakemake(workdir, *args)
    assert result.returncode == 0, result.stderr
    written = workdir / paths.EFFECTIVE_CONFIG
    expected = merged_config_dict(
        REPO / "params.yaml",
        [REPO / "config" / "demo.yaml"],
        ["train.srgan.lr=1.0e-5", "mos.raters=3"],
    )
    assert written.read_text() == effective_text(expected)
    assert merged_config_dict(written) == expected  # read back as a job reads it: the same
    mtime = written.stat().st_mtime_ns
    assert snakemake(workdir, "--forcerun", "data_ready", *args).returncode == 0
    assert written.stat().st_mtime_ns == mtime  # unchanged: not rewritten


@pytest.mark.process
def test_depth_target_is_separate(workdir):
    result = snakemake(workdir, "--dry-run", "depth")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    expected = {
        f"runs/depth/b{b}_skip{s}/final.{ext}"
        for b in (4, 8, 12, 16, 20, 24)
        for s in (0, 1)
        for ext in ("pt", "json")
    }
    assert outputs(jobs, "train_depth") == expected
    assert len(jobs["evaluate_depth"]) == 12
    assert outputs(jobs, "depth_table") == {"results/tables/depth.csv"}
    # its rerun triggers lie in its results folder, which its DVC stage versions
    assert outputs(jobs, "depth_identity") == {
        f"results/depth/identity/b{b}_skip{s}.json" for b in (4, 8, 12, 16, 20, 24) for s in (0, 1)
    }
    timings = re.findall(r"benchmark: (\S+)", result.stdout)
    assert len(timings) == 12 and all(t.startswith("results/depth/timings/") for t in timings)
    assert "train_srgan" not in jobs  # the paper's models are not part of it


@pytest.mark.process
def test_mos_target_is_separate(workdir):
    """`snakemake mos` builds the study from the evaluations; `all` does not; its manifest is
    protected, so a study that may hold ratings is never rebuilt."""
    result = snakemake(workdir, "--dry-run", "mos", "--configfile", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    assert outputs(jobs, "mos_study") == {"results/mos/study/manifest.json"}
    assert len(jobs["evaluate_model"]) == len(VARIANTS)
    assert "srgan mos create --out results/mos/study" in result.stdout
    default = snakemake(workdir, "--dry-run", "--configfile", "config/demo.yaml")
    assert "mos_study" not in planned_jobs(default.stdout)
    assert "protected(" in (REPO / "workflow" / "rules" / "mos.smk").read_text()


# --- configuration errors stop the run before any job -------------------------------------


@pytest.mark.process
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "set=[model.blocks=0]"], "bad value for model.blocks"),
        (["--config", "set=[model.blocks=2.0]"], "model.blocks: 2.0 is not of type 'integer'"),
        (["--config", "set=data.train_set=T91"], "data.train_set T91 has no download"),
    ],
)
def test_bad_config_fails_before_any_job(workdir, args, message):
    result = snakemake(workdir, "--cores", "1", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "bad configuration" in result.stderr
    # nothing was started: no job log, no data folder
    assert not (workdir / "logs").exists()
    assert not (workdir / "data").exists()


@pytest.mark.process
def test_an_alias_bomb_profile_is_refused_at_once(workdir):
    levels = [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}' if n else 'x'] * 9)}]\n" for n in range(9)]
    (workdir / "bomb.yaml").write_text("".join(levels))  # 9**9 values once expanded
    result = snakemake(workdir, "--dry-run", "--configfile", "bomb.yaml", timeout=60)
    assert result.returncode != 0
    said = result.stdout + result.stderr  # a dry run reports on stdout
    assert "bad configuration: config file bomb.yaml is too large once its aliases" in said


@pytest.mark.process
def test_bad_profile_file_is_named(workdir):
    (workdir / "bad.yaml").write_text("modle:\n  blocks: 3\n")
    result = snakemake(workdir, "--dry-run", "--configfile", "bad.yaml")
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "bad.yaml" in said and "unknown key modle" in said


@pytest.mark.process
def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


# --- the demo, end to end -----------------------------------------------------------------


#: The end-to-end test checks the DAG, not how well the demo learns (docs/benchmarks.md): a
#: shorter SRResNet schedule keeps it at a few minutes.
SHORT_DEMO = ["train.srresnet.steps=200", "train.srresnet.lr_decay_step=150"]


@pytest.mark.slow
def test_demo_dag_runs_end_to_end_on_the_mirror(workdir, shared_data):
    demo = ["--configfile", "config/demo.yaml", "config/demo_mirror.yaml"]
    config = ["--config", f"set=[{', '.join([f'data.mirror={shared_data}', *SHORT_DEMO])}]"]
    # A hang guard: 17 minutes measured on a 2-core machine shared by several engineers (load
    # average 4-9), after LPIPS and NIQE joined the 7 evaluations.
    result = snakemake(workdir, "--cores", "2", *demo, *config, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    table1 = pd.read_csv(workdir / "results/tables/table1.csv")
    table2 = pd.read_csv(workdir / "results/tables/table2.csv")
    for table in (table1, table2):
        ours = table[table["status"] == "ours"]
        assert set(ours["dataset"]) == set(PAPER_SETS)
        assert (table["status"] != "not run").all()
        columns = ("psnr_ours", "ssim_ours", "ssim_wang_ours", "lpips_ours", "niqe_ours")
        for column in columns:
            assert all(math.isfinite(v) for v in ours[column]), column
        assert table["lpips_vgg_ours"].isna().all()  # the demo computes LPIPS-AlexNet only
        assert table["reasons"].str.startswith("demo run (profile: demo)").all()
    assert set(table1[table1["status"] == "ours"]["method"]) == set(VARIANTS)
    assert len(table2[(table2["status"] == "ours") & (table2["dataset"] == "BSD100")]) == 4
    bicubic_bsd100 = table2[(table2["method"] == "bicubic") & (table2["dataset"] == "BSD100")]
    assert bicubic_bsd100["n_images"].item() == 100
    assert 25.0 < bicubic_bsd100["psnr_ours"].item() < 27.0  # the paper: 25.94

    for name in ("table1", "table2", "figures", "index"):
        assert (workdir / "reports" / f"{name}.html").is_file(), name
    # LPIPS/NIQE (stand-in weights in the demo, and labelled so) and the perception figure
    figures_page = (workdir / "reports" / "figures.html").read_text()
    assert "figures/perception_distortion_lpips.png" in (workdir / "reports/index.html").read_text()
    assert "Perception against distortion" in figures_page and "stand-in weights" in figures_page
    assert "LPIPS ours*" in (workdir / "reports" / "table2.html").read_text()
    for variant in VARIANTS:
        assert (workdir / "results" / "timings" / f"train_{variant}.tsv").is_file()
        found = json.loads((workdir / "runs" / variant / "final.json").read_text())
        assert found["variant"] == variant and found["config"]["profile"] == "demo"
        assert found["reasons"][0] == "demo run (profile: demo): small model and schedule"
    assert (workdir / "data" / "checksums" / "T91.sha256").read_text().count("\n") == 91

    # Rerun decisions: nothing is left to do; a config change reruns only the jobs using it.
    def plan(*pairs: str) -> dict[str, int]:
        sets = ", ".join([f"data.mirror={shared_data}", *SHORT_DEMO, *pairs])
        again = snakemake(workdir, "--dry-run", *demo, "--config", f"set=[{sets}]")
        assert again.returncode == 0, again.stderr
        return {rule: len(jobs) for rule, jobs in planned_jobs(again.stdout).items()}

    reports = {"build_tables": 1, "report_table": 2, "report_figures": 1, "report_index": 1}
    assert plan() == {}
    assert plan("train.srgan.lr=5e-5") == {
        "train_identity": 3,
        "train_srgan": 3,
        "evaluate_model": 3,
        **reports,
        "all": 0,
    }
    assert plan("train.log_every=1") == {**reports, "all": 0}
    evaluations = {"evaluate_baseline": 2, "evaluate_model": 5}
    assert plan("evaluate.perceptual.niqe=false") == {**evaluations, **reports, "all": 0}
    # The data step reruns: training follows only when its identity changed too (Snakemake
    # alone would hide the changed trigger behind results/data.ready, an ancient input).
    moved = plan("data.root=data_elsewhere")
    assert moved["data_ready"] == 1 and moved["evaluate_model"] == 5
    assert not {"train_identity", "train_srresnet", "train_srgan"} & set(moved)
    other_set = plan("data.train_set=BSD200")
    assert other_set["data_ready"] == 1 and other_set["train_identity"] == 5
    assert other_set["train_srresnet"] == 2 and other_set["train_srgan"] == 3


VARIANT_LITERAL = re.compile("[\"']({})[\"']".format("|".join(variants.NAMES)))


def test_variant_names_are_written_only_in_the_variants_module():
    """The one place: the variant names appear as string literals only in srgan/variants.py,
    params.yaml and the config schema (dvc.yaml lists them, checked by tests/test_dvc.py)."""
    allowed = {
        REPO / "src" / "srgan" / "core" / "variants.py",
        REPO / "src" / "srgan" / "core" / "config_schema.yaml",
        REPO / "params.yaml",
    }
    sources = [
        *(REPO / "src").rglob("*.py"),
        *(REPO / "src").rglob("*.yaml"),
        *(REPO / "workflow").rglob("*.smk"),
        *(REPO / "notebooks").glob("*.py"),
        *(REPO / "benchmarks").glob("*.py"),
        *(REPO / "config").glob("*.yaml"),
        REPO / "Snakefile",
        REPO / "params.yaml",
    ]
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in sources
        if path not in allowed
        for match in VARIANT_LITERAL.finditer(path.read_text())
    ]
    assert offenders == []


def test_demo_command_lays_the_profiles():
    from srgan.cli.demo import demo_command

    offline = demo_command(None, 2, imagenet_vgg=False)
    assert offline[1:] == ["-m", "snakemake", "--cores", "2", "--configfile", "config/demo.yaml"]
    mirrored = demo_command(Path("../shared/data"), 4, imagenet_vgg=True, dry_run=True)
    assert mirrored[3:5] == ["--cores", "4"]
    assert mirrored[5:] == [
        "--configfile",
        "config/demo.yaml",
        "config/demo_mirror.yaml",
        "--config",
        "set=[vgg.weights=imagenet, data.mirror=../shared/data]",
        "--dry-run",
    ]
