"""The DVC pipeline: its wiring to Snakemake and srgan.core, the configuration it records, its
views (metrics, the offline plots page), and end to end (slow): a run of the demo through DVC,
a real remote that round-trips into a fresh clone, the depth pipeline's status, experiments
and what `dvc exp show` and `dvc params diff` say of them (docs/dvc.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srgan.cli import config as config_cli
from srgan.cli.demo import DEMO_MIRROR_PROFILE_FILE, DEMO_PROFILE_FILE
from srgan.core import identity, paths, variants
from srgan.core.config import from_dict, merged_config_dict
from srgan.core.errors import UserError
from srgan.report import dvc_views, tables

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIPELINE = REPO / "dvc.yaml"
DEPTH_PIPELINE = REPO / "pipelines" / "depth" / "dvc.yaml"
RECORD = {f"{paths.EFFECTIVE_CONFIG}": None}
SNAKEMAKE_WITH_RECORD = f"--configfile {paths.EFFECTIVE_CONFIG}"


def stages(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["stages"]


def out_names(stage: dict) -> list[str]:
    return [next(iter(out)) if isinstance(out, dict) else out for out in stage["outs"]]


# --- the pipeline's wiring -----------------------------------------------------------------


def test_the_first_stage_records_the_configuration_the_others_run_with():
    pipeline = stages(PIPELINE)
    assert list(pipeline) == [config_cli.CONFIG_STAGE, "data", "train", "evaluate", "report"]
    first = pipeline[config_cli.CONFIG_STAGE]
    assert first["cmd"] == "srgan config --write"
    assert first["params"] == [{"params.yaml": None}]
    assert {"config", "src/srgan"} <= set(first["deps"])
    assert out_names(first) == [str(paths.EFFECTIVE_CONFIG), str(paths.DEPTH_PARAMS)]
    depth = stages(DEPTH_PIPELINE)["depth"]
    # Every other stage runs one Snakemake target with the recorded configuration and takes
    # it as its params (the depth study: only what it depends on), and depends on all code.
    for name, stage in [*((n, s) for n, s in pipeline.items() if n != "config"), ("d", depth)]:
        command = stage["cmd"].split(" && ")[-1]
        assert command.startswith("snakemake ") and command.endswith(SNAKEMAKE_WITH_RECORD), name
        assert {"Snakefile", "workflow", "src/srgan"} <= set(stage["deps"]), name
        assert stage["params"] == ([{str(paths.DEPTH_PARAMS): None}] if name == "d" else [RECORD])
    # Nothing the stages depend on holds a dvc.lock (it would change at every run).
    assert not list((REPO / "workflow").rglob("dvc.*"))


def test_dvc_yaml_follows_the_variants_and_paths():
    """dvc.yaml names each variant's run folder and DVCLive plots: the same list, in the same
    order, as srgan.core.variants, at the paths of srgan.core.paths; and every file Snakemake
    needs to find a pulled workspace up to date is versioned."""
    pipeline = yaml.safe_load(PIPELINE.read_text())
    runs = [str(paths.run_dir(v)) for v in variants.NAMES]
    train = out_names(pipeline["stages"]["train"])
    assert train == [*runs, str(paths.IDENTITY_DIR), str(paths.TIMINGS_DIR)]
    assert [d for d in pipeline["stages"]["evaluate"]["deps"] if d.startswith("runs/")] == runs
    plots = [next(iter(plot)) for plot in pipeline["plots"]]
    assert plots == [str(paths.RunFolder(paths.run_dir(v)).metrics) for v in variants.NAMES]
    assert str(paths.DATA_READY) in out_names(pipeline["stages"]["data"])
    report = out_names(pipeline["stages"]["report"])
    assert str(paths.report_page(paths.MOS_REPORT)) in report
    assert str(paths.report_page(paths.INDEX)) in report
    assert pipeline["metrics"] == [str(paths.table_file(n, tables.METRICS)) for n in paths.TABLES]
    depth = out_names(stages(DEPTH_PIPELINE)["depth"])
    assert str(paths.DEPTH_RESULTS_DIR) in depth
    assert paths.DEPTH_IDENTITY_DIR.parent == paths.DEPTH_RESULTS_DIR


@pytest.mark.process
def test_dvc_dag_shows_the_stages():
    result = subprocess.run(
        [str(BIN / "dvc"), "dag", "--dot"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    edges = set(re.findall(r'^"(.+)" -> "(.+)";$', result.stdout, flags=re.MULTILINE))
    depth = "pipelines/depth/dvc.yaml:depth"
    assert edges == {
        ("config", "data"),
        ("config", "train"),
        ("config", "evaluate"),
        ("config", "report"),
        ("config", depth),
        ("data", "train"),
        ("data", "evaluate"),
        ("train", "evaluate"),
        ("train", "report"),
        ("evaluate", "report"),
        ("data", depth),
    }


def test_dvc_views_are_configured():
    config = (REPO / ".dvc" / "config").read_text()
    assert re.search(r"html_template = (.+)", config).group(1) == paths.DVC_PLOTS_PAGE.name
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/dvc_plots/" in ignored and f"/{paths.DVC_PLOTS_PAGE.as_posix()}" in ignored


# --- the configuration a DVC run records ---------------------------------------------------


def test_the_profile_params_yaml_names_is_laid_over_it(tmp_path):
    params = REPO / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    assert config_cli.profile_layers(params, raw) == ([REPO / "config" / "paper.yaml"], [])
    quick = {**raw, "profile": "quick"}
    assert config_cli.profile_layers(params, quick) == ([REPO / "config" / "quick.yaml"], [])
    # The demo is what `srgan demo` lays (with a mirror, `srgan demo --mirror`).
    demo = {**raw, "profile": "demo"}
    assert config_cli.profile_layers(params, demo) == ([DEMO_PROFILE_FILE], [])
    mirrored = {**demo, "data": {**raw["data"], "mirror": "/m"}}
    layers = ([DEMO_PROFILE_FILE, DEMO_MIRROR_PROFILE_FILE], ["data.mirror=/m"])
    assert config_cli.profile_layers(params, mirrored) == layers


def run_srgan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "srgan"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def project_copy(folder: Path, profile: str) -> Path:
    """params.yaml (naming ``profile``), config/ and dvc.lock-free: what `srgan config` reads."""
    shutil.copytree(REPO / "config", folder / "config")
    text = (REPO / "params.yaml").read_text()
    (folder / "params.yaml").write_text(text.replace("profile: paper ", f"profile: {profile} "))
    return folder


@pytest.mark.process
def test_config_writes_the_effective_configuration_and_the_depth_studys(tmp_path):
    folder = project_copy(tmp_path, "demo")
    result = run_srgan("config", "--write", cwd=folder)
    assert result.returncode == 0, result.stderr
    expected = merged_config_dict(folder / "params.yaml", [folder / "config" / "demo.yaml"])
    written = yaml.safe_load((folder / paths.EFFECTIVE_CONFIG).read_text())
    assert written == expected and written["profile"] == "demo"
    assert written["data"]["crop_size"] == 48 and written["model"]["blocks"] == 4
    depth = yaml.safe_load((folder / paths.DEPTH_PARAMS).read_text())
    assert depth == json.loads(json.dumps(identity.depth_study_identity(from_dict(expected))))
    # Without --write it prints the same configuration and writes nothing else.
    printed = run_srgan("config", cwd=folder)
    assert yaml.safe_load(printed.stdout) == expected


@pytest.mark.process
def test_a_change_the_profile_overrides_is_refused(tmp_path):
    folder = project_copy(tmp_path, "demo")
    params = folder / "params.yaml"
    before = yaml.safe_load(params.read_text())
    lock = {"stages": {config_cli.CONFIG_STAGE: {"params": {"params.yaml": before}}}}
    (folder / "dvc.lock").write_text(yaml.safe_dump(lock))
    # A key the demo does not set reaches the configuration: accepted.
    params.write_text(params.read_text().replace("adam_beta1: 0.9 ", "adam_beta1: 0.8 "))
    assert run_srgan("config", "--write", cwd=folder).returncode == 0
    # One it sets (train.srgan.steps: 40) would do nothing: refused, saying where to set it.
    params.write_text(params.read_text().replace("steps: 200000 ", "steps: 30 "))
    refused = run_srgan("config", "--write", cwd=folder)
    assert refused.returncode == 2
    assert "train.srgan.steps: 30 in params.yaml, but config/demo.yaml sets 40" in refused.stderr
    assert "dvc exp run -S config/demo.yaml:train.srgan.steps=30" in refused.stderr


def test_shadowed_changes_are_the_changed_keys_the_configuration_does_not_take():
    before = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "e": 5, "f": {}}
    now = {"a": 2, "b": {"c": 3, "d": [1, 3]}, "e": 5, "f": {"g": 1, "h": 2}}
    effective = {"a": 2, "b": {"c": 7, "d": [9]}, "e": 6, "f": {"g": 1, "h": 3}}
    assert config_cli.shadowed_changes(before, now, effective) == ["b.c", "b.d", "f.h"]
    assert config_cli.shadowed_changes(now, now, effective) == []


def test_a_gpu_profile_on_a_machine_without_one_is_refused(monkeypatch):
    import torch

    from srgan.core import runtime

    monkeypatch.setattr(runtime, "resolve_device", lambda device: torch.device("cpu"))
    paper = {"profile": "paper", "device": "auto"}
    for refused in (paper, {**paper, "profile": "quick"}):
        with pytest.raises(UserError, match="dvc exp run -S profile=demo"):
            config_cli.check_device(refused)
    config_cli.check_device({**paper, "device": "cpu"})  # said explicitly: the user's call
    config_cli.check_device({**paper, "profile": "demo"})


def test_the_depth_studys_params_hold_only_what_it_depends_on():
    base = merged_config_dict(REPO / "params.yaml")

    def study(**changes: object) -> dict:
        config = json.loads(json.dumps(base))
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = config
            for part in parents:
                node = node[part]
            node[last] = value
        return identity.depth_study_identity(from_dict(config))

    same = study()
    assert study(train__srgan__steps=30) == same  # SRGAN's schedule: not the study's
    assert study(model__blocks=8) == same  # each of its models sets its own blocks
    assert study(evaluate__datasets=["Set5"]) == same
    assert study(train__srresnet__lr=1e-3) != same
    assert study(workflow__depth__steps=10) != same
    assert study(data__crop_size=48) != same


# --- the views -----------------------------------------------------------------------------


def test_the_plots_page_inlines_the_chart_library():
    from dvc_render.html import HTML

    page = dvc_views.plots_page()
    assert page.count("<script>") == len(dvc_views.VEGA_LIBRARIES)
    assert "<script src" not in page and "{scripts}" not in page  # nothing from a network
    for marker in ("global.vega = {}", "vegaLite", "vegaEmbed"):
        assert marker in page, marker
    filled = HTML(page).with_element("<div id='p'>plot</div>").embed()  # what DVC does with it
    assert "<div id='p'>plot</div>" in filled and dvc_views.PLOTS_PLACEHOLDER not in filled


def test_metrics_are_shown_as_one_table_per_paper_table():
    data = {
        "Set5": {"srresnet_mse": {"psnr": 30.123456, "ssim": 0.87654321, "lpips": 0.1}},
        "Set14": {"srresnet_mse": {"psnr": 27.5, "ssim": 0.76}},
    }
    text = dvc_views.format_metrics("table1", data, "results/tables/table1.json, workspace")
    assert text.splitlines() == [
        "table1 (results/tables/table1.json, workspace)",
        "  set       method    PSNR    SSIM  LPIPS",
        " Set5 srresnet_mse 30.1235 0.87654 0.1000",
        "Set14 srresnet_mse 27.5000 0.76000      -",
    ]


# --- end to end (slow) ---------------------------------------------------------------------

#: The test's demo: every stage and every model, each trained for a handful of steps, a depth
#: study of one model, PSNR and SSIM only (the DAG is what is tested; the demo's numbers are
#: README's). Written into config/demo.yaml of the temporary repository.
TINY_DEMO = {
    "train": {
        "srresnet": {"steps": 10, "lr_decay_step": 8},
        "srgan": {"steps": 4, "lr_decay_step": 2},
        "variant_steps": {"srresnet_vgg22": 4},
        "snapshot_steps": [2],
        "checkpoint_every": 5,
        "log_every": 2,
        "eval_every": 5,
    },
    "evaluate": {"perceptual": {"enabled": False}},
    "workflow": {"depth": {"blocks": [1], "long_skip": [True], "steps": 4}},
}
#: What a person types to compare experiments (docs/dvc.md): the parameters that differ and
#: Table 1's PSNR per model on one set.
EXP_SHOW = [
    "exp",
    "show",
    "--no-pager",
    "--only-changed",
    "--keep",
    r"table1\.SkimageTest\..*\.psnr",
    "--drop",
    r"(?!Experiment|results/config\.yaml:).*",
]
GIT_ID = ["-c", "user.name=test", "-c", "user.email=test@example.org"]


def deep_update(tree: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict):
            deep_update(tree.setdefault(key, {}), value)
        else:
            tree[key] = value
    return tree


class Project:
    """A Git repository holding a copy of the project (its tracked and untracked files)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "400",  # dvc exp show: every column, none cut
        }

    def run(self, *args: str, ok: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
        result = subprocess.run(
            list(args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if ok:
            assert result.returncode == 0, (
                f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def dvc(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, ok=ok)

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("git", *GIT_ID, *args)

    def snakemake(self, *args: str) -> subprocess.CompletedProcess:
        """Snakemake with the configuration DVC recorded (``--configfile results/config.yaml``)."""
        return self.run(
            str(BIN / "snakemake"), "--cores", "2", *args, *SNAKEMAKE_WITH_RECORD.split()
        )

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


def jobs_run(result: subprocess.CompletedProcess) -> dict[str, int]:
    """{rule: jobs} that Snakemake ran, from the output of a DVC command that ran it (Snakemake
    logs on stderr, DVC on stdout)."""
    counts: dict[str, int] = {}
    output = result.stdout + result.stderr
    for rule in re.findall(r"^(?:local)?rule (\w+):$", output, flags=re.MULTILINE):
        counts[rule] = counts.get(rule, 0) + 1
    return counts


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """The tiny demo run through DVC (`dvc repro` with profile: demo), committed and pushed to
    a local folder remote."""
    root = tmp_path_factory.mktemp("project")
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source, target = REPO / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    demo = root / DEMO_PROFILE_FILE
    demo.write_text(yaml.safe_dump(deep_update(yaml.safe_load(demo.read_text()), TINY_DEMO)))
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("profile: paper ", "profile: demo  "))
    made = Project(root)
    made.run("git", "init", "-q")
    made.commit("the project, the tiny demo profile selected")
    made.run(str(BIN / "srgan"), "plots-page")
    made.dvc("repro")
    made.dvc("remote", "add", "-d", "storage", str(tmp_path_factory.mktemp("remote")))
    made.commit("the demo run through DVC, a local remote")
    made.dvc("push")
    return made


@pytest.mark.slow
def test_a_fresh_clone_pulls_the_run_and_snakemake_finds_it_done(project, tmp_path):
    assert project.dvc("status").stdout.startswith("pipelines/depth/dvc.yaml:depth:")  # not run
    assert "up to date" in project.dvc("status", "dvc.yaml").stdout
    clone = Project(tmp_path / "clone")
    project.run("git", "clone", "-q", str(project.root), str(clone.root))
    clone.dvc("pull", "dvc.yaml")  # from the remote in .dvc/config; the depth study never ran
    clone.snakemake("--touch", "--forceall")  # mark the pulled files up to date, in DAG order
    dry = clone.snakemake("--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert "up to date" in clone.dvc("status", "dvc.yaml").stdout
    for folder in ("reports", "results/tables", "runs", "results/eval"):
        for path in (project.root / folder).rglob("*"):
            if path.is_file() and "checkpoints" not in path.parts:
                copy = clone.root / path.relative_to(project.root)
                assert copy.read_bytes() == path.read_bytes(), path
    # Resumable checkpoints stay local (.dvcignore): the remote has the models, not them.
    assert list(project.root.glob("runs/*/checkpoints/*.pt"))
    assert not list(clone.root.glob("runs/*/checkpoints"))


@pytest.mark.slow
def test_the_views_work_offline(project, tmp_path):
    metrics = project.run(str(BIN / "srgan"), "metrics").stdout
    assert re.search(r"^SkimageTest\s+srgan_vgg54\s+\d+\.\d{4}\s+0\.\d{5}\b", metrics, re.MULTILINE)
    project.dvc("plots", "show")
    page = project.root / "dvc_plots" / "index.html"
    plots = page.read_text().count("vegaEmbed('#")
    assert plots > 5 * 3 and "<script src" not in page.read_text()
    rendered = render_offline(page, tmp_path / "plots.png")
    assert rendered == plots


def render_offline(page: Path, screenshot: Path) -> int:
    """Open ``page`` in headless chromium with every network request refused; the number of
    plots vega-embed drew (skips without chromium or Playwright, fails in CI)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from mos_browser import BROWSER, launch

    reason = None if BROWSER.is_file() else f"no {BROWSER}"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "no Playwright"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1600, "height": 1200})
        context.route(
            "http*://**", lambda route: (requested.append(route.request.url), route.abort())
        )
        view = context.new_page()
        view.goto(page.as_uri())
        view.wait_for_function(
            "document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length > 0"
        )
        view.wait_for_timeout(1000)
        drawn = view.evaluate(
            "document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length"
        )
        view.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    assert requested == []
    return drawn


@pytest.mark.slow
def test_experiments_rerun_what_changed_and_say_so(project):
    # The depth study, once; a run of the root pipeline that changes nothing it uses leaves
    # it up to date.
    project.dvc("repro", "pipelines/depth/dvc.yaml")
    project.commit("the depth study")
    assert "up to date" in project.dvc("status").stdout

    # A key the demo's profile sets, changed in params.yaml, would do nothing: refused.
    refused = project.dvc("exp", "run", "-S", "train.srgan.steps=5", ok=False)
    assert refused.returncode != 0
    assert "dvc exp run -S config/demo.yaml:train.srgan.steps=5" in refused.stdout + refused.stderr
    project.git("checkout", "-q", "--", ".")

    # Where the profile says it: the three SRGAN models retrain, and are evaluated again.
    first = project.dvc(
        "exp", "run", "-n", "srgan-steps", "-S", "config/demo.yaml:train.srgan.steps=5", "evaluate"
    )
    ran = jobs_run(first)
    assert ran.get("train_srgan") == 3 and ran.get("evaluate_model") == 3, ran
    assert "train_srresnet" not in ran and "evaluate_baseline" not in ran
    assert "up to date" in project.dvc("status", "pipelines/depth/dvc.yaml").stdout
    project.git("checkout", "-q", "--", ".")
    project.dvc("checkout", "-q")

    # A key outside every model's identity: SRResNet does not retrain, the tables are rebuilt.
    # (The SRGAN models do, once: `dvc checkout` brought back the baseline's models, but
    # Snakemake's own record, .snakemake/, still holds the experiment's schedule; docs/dvc.md.)
    second = project.dvc("exp", "run", "-n", "tiles", "-S", "evaluate.tile=64", "evaluate")
    ran = jobs_run(second)
    assert "train_srresnet" not in ran and ran["build_tables"] == 1
    assert ran.get("train_srgan", 0) in (0, 3)
    project.git("checkout", "-q", "--", ".")
    project.dvc("checkout", "-q")

    # `dvc exp show` as docs/dvc.md has it: the parameters that differ, Table 1's PSNR.
    table = project.dvc(*EXP_SHOW).stdout
    header = next(line for line in table.splitlines() if "Experiment" in line).split()
    psnr = [f"table1.SkimageTest.{v}.psnr" for v in variants.NAMES]
    changed = ["results/config.yaml:train.srgan.steps", "results/config.yaml:evaluate.tile"]
    assert header == ["Experiment", *psnr, *changed]
    assert "[srgan-steps]" in table and "[tiles]" in table
    # The same columns as CSV: SRGAN's PSNR moved with its schedule, SRResNet's did not.
    as_csv = project.dvc(*EXP_SHOW, "--keep", "rev$", "--csv").stdout
    rows = {row["Experiment"] or row["rev"]: row for row in csv.DictReader(io.StringIO(as_csv))}
    base, srgan = rows["master"], rows["srgan-steps"]
    assert srgan[psnr[0]] == base[psnr[0]] and srgan[psnr[-1]] != base[psnr[-1]]
    assert (srgan[changed[0]], base[changed[0]]) == ("5", "4")
    # srgan metrics reads an experiment's tables through DVC, one table per paper table.
    shown = project.run(str(BIN / "srgan"), "metrics", "--rev", "srgan-steps").stdout
    found = re.search(r"^SkimageTest\s+srgan_vgg54\s+(\S+)", shown, re.MULTILINE)
    assert float(found.group(1)) == pytest.approx(float(srgan[psnr[-1]]), abs=1e-3)

    # A quick-profile experiment (its configuration stage only: the quick profile trains on a
    # GPU): `dvc params diff` shows every setting that differs from the demo's.
    project.dvc("exp", "run", "-n", "quick", "-S", "profile=quick", "-S", "device=cpu", "config")
    diff = project.dvc("params", "diff", "HEAD", "quick").stdout
    for line in (
        r"params.yaml\s+profile\s+demo\s+quick",
        r"results/config.yaml\s+data.crop_size\s+48\s+96",
        r"results/config.yaml\s+model.blocks\s+4\s+16",
        r"results/config.yaml\s+train.srgan.steps\s+4\s+20000",
    ):
        assert re.search(line, diff), line
