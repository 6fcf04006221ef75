"""Every file and folder the workflow and the package read or write, in one place.

Three groups:

* **Data** (under ``data.root``, default ``data/``, or a mirror): the test sets, the training
  set, their sha256 manifests, downloads and the decoded-image cache. Functions of the config.
* **Workflow outputs** (relative to the project folder): trained models in ``runs/``,
  evaluations, SR images, tables and timings in ``results/``, reports in ``reports/``, job
  logs in ``logs/``. Each function takes the name of a method, variant, set or report and
  returns the path; the Snakemake rules pass wildcards (``eval_file("{method}")``) to get
  their patterns from the same functions.
* **A training run's folder** (:class:`RunFolder`): ``final.pt`` and ``final.json``,
  ``checkpoints/``, ``snapshots/``, ``dvclive/``, ``superseded/``, ``unreadable/``, ``.lock``.
* **A MOS study** (:class:`StudyFolder`, under ``results/mos/``): manifest, database,
  stimuli, rater codes; the ratings and analysis tables beside it.

Words: *test sets* are the images models are scored on (Set5, Set14, BSD100; a mirror keeps
them in ``benchmarks/``, its own layout); *benchmarks* are the speed scripts in
``benchmarks/`` only; *timings* are the wall time and memory Snakemake records per job.

Torch-free: the workflow imports this module when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srgan.core import datasets
from srgan.core.config import Config
from srgan.core.errors import UserError

# --- data ------------------------------------------------------------------------------------

#: Sub-folders of ``data.root`` where the workflow puts the sets it fetches.
FETCHED_TEST_DIR = "test_sets"
FETCHED_TRAIN_DIR = "train"


def data_root(config: Config) -> Path:
    return Path(config.data.root)


def fetched_test_sets_dir(config: Config) -> Path:
    """Where the workflow writes downloaded or bundled test sets: ``<data.root>/test_sets``."""
    return data_root(config) / FETCHED_TEST_DIR


def fetched_train_sets_dir(config: Config) -> Path:
    """Where the workflow writes downloaded, bundled or linked training sets."""
    return data_root(config) / FETCHED_TRAIN_DIR


def test_sets_dir(config: Config) -> Path:
    """The folder holding ``<set>/`` HR test images: the mirror's, or the fetched ones."""
    if config.data.mirror:
        return Path(config.data.mirror) / datasets.MIRROR_TEST_DIR
    return fetched_test_sets_dir(config)


def train_set_name(config: Config) -> str:
    """The name of the training set's manifest (``<data.root>/checksums/<name>.sha256``):
    ``ImageNet`` (a linked sample), ``folder`` (``data.train_dir``), ``SkimageTrain``
    (``skimage``), else the set's own name."""
    data = config.data
    if data.train_set == datasets.TRAIN_SET_IMAGENET:
        return datasets.TRAIN_SET_IMAGENET
    if data.train_dir:
        return datasets.TRAIN_SET_FOLDER
    if data.train_set == datasets.TRAIN_SET_BUNDLED:
        return datasets.BUNDLED_TRAIN_SET
    return data.train_set


def train_images_dir(config: Config) -> Path:
    """The folder of HR training images for ``data.train_set``.

    ``folder`` is ``data.train_dir`` as given; ``T91``/``BSD200``/``DIV2K`` come from the
    mirror when one is set; everything else is what the workflow's data rules put under
    ``<data.root>/train/``.
    """
    data = config.data
    if data.train_set == datasets.TRAIN_SET_FOLDER:
        if not data.train_dir:
            raise UserError("data.train_set is 'folder' but data.train_dir is not set")
        return Path(data.train_dir)
    if data.train_dir:
        return Path(data.train_dir)
    if data.mirror and data.train_set in datasets.MIRROR_TRAIN_SETS:
        return Path(data.mirror) / datasets.MIRROR_TRAIN_DIR / data.train_set
    return fetched_train_sets_dir(config) / train_set_name(config)


def manifest(config: Config, name: str) -> Path:
    """The sha256 manifest of set ``name``: the record of exactly which files were used."""
    return data_root(config) / "checksums" / f"{name}.sha256"


def download_file(config: Config, filename: str) -> Path:
    return data_root(config) / "downloads" / filename


def cache_dir(config: Config) -> Path:
    """Scan manifests and decoded-image stores of training folders."""
    return data_root(config) / "cache"


# --- workflow outputs ----------------------------------------------------------------------------

RUNS_DIR = Path("runs")
RESULTS_DIR = Path("results")
REPORTS_DIR = Path("reports")
LOGS_DIR = Path("logs")
EVALS_DIR = RESULTS_DIR / "eval"
SR_IMAGES_DIR = RESULTS_DIR / "images"
TABLES_DIR = RESULTS_DIR / "tables"
TIMINGS_DIR = RESULTS_DIR / "timings"
DEPTH_RESULTS_DIR = RESULTS_DIR / "depth"
DEPTH_RUNS_DIR = RUNS_DIR / "depth"
#: The depth study's rerun triggers (``identity_file(run, DEPTH_IDENTITY_DIR)``): inside its
#: results folder, so that they are versioned with them (pipelines/depth/dvc.yaml).
DEPTH_IDENTITY_DIR = DEPTH_RESULTS_DIR / "identity"
#: The depth study's training timings (``train_timing(run, DEPTH_TIMINGS_DIR)``), beside them
#: for the same reason, and apart from the five models' (``TIMINGS_DIR``, the reports' table).
DEPTH_TIMINGS_DIR = DEPTH_RESULTS_DIR / "timings"
FIGURES_DIR = REPORTS_DIR / "figures"
#: Full-resolution crops of the per-image figures: figures/crops/<figure>/<panel>.png.
CROPS_DIR = FIGURES_DIR / "crops"
#: The index's dot plot of ours against the paper's (written with the index).
VERDICT_PLOT = REPORTS_DIR / "verdict.png"
#: An empty file the workflow touches once every set the configuration needs is in place:
#: training waits for it, and its path depends on nothing in the configuration.
DATA_READY = RESULTS_DIR / "data.ready"
#: Each training job's rerun trigger as a file (``results/identity/<name>.json``, made by a job
#: with no inputs; the training job reads it as an input): see workflow/rules/train.smk.
IDENTITY_DIR = RESULTS_DIR / "identity"
#: The effective configuration of the last workflow run (params.yaml + profiles + sets, merged
#: once): every job reads it (``srgan ... --params results/config.yaml``).
EFFECTIVE_CONFIG = RESULTS_DIR / "config.yaml"
#: What the depth study's results depend on (``srgan.core.identity.depth_study_identity``),
#: written with the effective configuration by the DVC pipeline's first stage: the params of
#: the depth study's DVC stage, so that a change it does not depend on leaves it up to date.
DEPTH_PARAMS = RESULTS_DIR / "depth_params.yaml"
#: The profiles laid over params.yaml: ``config/<name>.yaml``.
PROFILES_DIR = Path("config")
#: DVC's record of the pipeline's last run (the params it ran with, the hash of each output).
DVC_LOCK = Path("dvc.lock")
#: The page ``dvc plots show`` fills (``.dvc/config``: plots.html_template), with the chart
#: library inlined so that it renders offline; written by ``srgan plots-page`` (make setup).
DVC_PLOTS_PAGE = Path(".dvc") / "plots_page.html"
#: The tables of the paper we rebuild (results/tables/<name>.csv and .json).
TABLES = ("table1", "table2")
#: The report notebooks (notebooks/<name>.ipynb -> reports/<name>.html), in reading order.
REPORTS = ("table1", "table2", "figures")
#: The index page of the reports: reports/index.html.
INDEX = "index"
#: The report notebooks (``<name>.py``, jupytext's percent format, and ``<name>.ipynb``).
NOTEBOOKS_DIR = Path("notebooks")
#: Prefix of training jobs' timing files: results/timings/train_<variant>.tsv.
TRAIN_TIMING_PREFIX = "train_"


def profile_file(name: str, params: Path | None = None) -> Path:
    """A profile's file: ``config/<name>.yaml`` (demo, quick, paper, demo_mirror), beside the
    params file ``params`` when given (else relative to the working folder)."""
    top = Path(params).parent if params is not None else Path()
    return top / PROFILES_DIR / f"{name}.yaml"


def run_dir(variant: str) -> Path:
    """The work folder of a variant's training: ``runs/<variant>/``."""
    return RUNS_DIR / variant


def depth_run_name(blocks: int | str, long_skip: int | str) -> str:
    """A depth-study model's name: ``b<B>_skip<0|1>`` (wildcards pass through)."""
    return f"b{blocks}_skip{long_skip}"


def depth_run_dir(name: str) -> Path:
    return DEPTH_RUNS_DIR / name


def eval_file(method: str, root: Path = EVALS_DIR) -> Path:
    """``srgan evaluate``'s JSON for a method: ``results/eval/<method>.json``."""
    return Path(root) / f"{method}.json"


def sr_images_dir(method: str, root: Path = SR_IMAGES_DIR) -> Path:
    """A method's super-resolved images: ``results/images/<method>/<set>/<stem>.png``."""
    return Path(root) / method


def sr_image(method: str, dataset: str, stem: str, root: Path = SR_IMAGES_DIR) -> Path:
    return sr_images_dir(method, root) / dataset / f"{stem}.png"


def table_file(name: str, suffix: str, root: Path = TABLES_DIR) -> Path:
    """``results/tables/<name><suffix>`` (table1/table2 with .csv/.json, depth.csv)."""
    return Path(root) / f"{name}{suffix}"


def identity_file(name: str, root: Path = IDENTITY_DIR) -> Path:
    """A training job's rerun trigger as the workflow last wrote it: ``<name>.json``."""
    return Path(root) / f"{name}.json"


def train_timing(name: str, root: Path = TIMINGS_DIR) -> Path:
    """Snakemake's wall time and memory of a training job: ``train_<name>.tsv``."""
    return Path(root) / f"{TRAIN_TIMING_PREFIX}{name}.tsv"


def depth_eval_file(name: str, root: Path = DEPTH_RESULTS_DIR) -> Path:
    return Path(root) / f"{name}.json"


def report_page(name: str, suffix: str = ".html", root: Path = REPORTS_DIR) -> Path:
    """A report: ``reports/<name>.html`` (or ``.ipynb``, the executed notebook)."""
    return Path(root) / f"{name}{suffix}"


def crop_file(figure: str, panel: str, root: Path = CROPS_DIR) -> Path:
    """One panel of a per-image figure at full resolution: ``crops/<figure>/<panel>.png``."""
    return Path(root) / figure / f"{panel}.png"


def log_file(stage: str, name: str) -> Path:
    """A workflow job's log: ``logs/<stage>/<name>.log``."""
    return LOGS_DIR / stage / f"{name}.log"


# --- the MOS study (optional: `snakemake mos`, `srgan mos create|serve|analyse`) ---------------

MOS_DIR = RESULTS_DIR / "mos"
#: The MOS study's report, reports/mos.html: known to `srgan report`, not built by `all`.
MOS_REPORT = "mos"


def mos_study_dir(root: Path = MOS_DIR) -> Path:
    """A MOS study (``StudyFolder``): ``results/mos/study/``."""
    return Path(root) / "study"


def mos_ratings_file(root: Path = MOS_DIR) -> Path:
    """Every rating of a study with its stimulus unblinded: ``results/mos/ratings.csv``."""
    return Path(root) / "ratings.csv"


def mos_table(name: str, root: Path = MOS_DIR) -> Path:
    """An analysis table of ``srgan mos analyse``: ``results/mos/<name>.csv``."""
    return Path(root) / f"{name}.csv"


def mos_calibration_dir(config: Config) -> Path:
    """The images a study's anchors and attention items come from: ``mos.calibration_dir``;
    else the mirror's BSD200 (the paper took 20 of BSD300's training images); else the
    training set (images no test set holds, as the paper's)."""
    if config.mos.calibration_dir:
        return Path(config.mos.calibration_dir)
    if config.data.mirror:
        return Path(config.data.mirror) / datasets.MIRROR_TRAIN_DIR / datasets.MOS_CALIBRATION_SET
    return train_images_dir(config)


@dataclass(frozen=True)
class StudyFolder:
    """The files of one MOS study (``srgan mos create --out DIR``).

    ``manifest.json`` records every stimulus (its source, hashes), the seeds, the rater codes
    and the software version; ``study.sqlite`` holds the plan and every rating;
    ``stimuli/<id>.png`` the images as served, named by opaque ids; ``codes.txt`` the rater
    codes to hand out; ``.lock`` is held while a server runs on the study. The ``secrets``
    (the database with its WAL files, the codes, the manifest: they name every rater code,
    the cookie secret and the method behind each stimulus) are readable by their owner only.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def database(self) -> Path:
        return self.root / "study.sqlite"

    @property
    def stimuli(self) -> Path:
        return self.root / "stimuli"

    def stimulus(self, stimulus_id: str) -> Path:
        return self.stimuli / f"{stimulus_id}.png"

    @property
    def codes(self) -> Path:
        return self.root / "codes.txt"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def secrets(self) -> tuple[Path, ...]:
        database = self.database
        wal, shm = (database.with_name(database.name + end) for end in ("-wal", "-shm"))
        return (database, wal, shm, self.codes, self.manifest)


def rebased(path: Path, top: Path) -> Path:
    """A workflow output ``path`` with its top folder replaced by ``top``:
    ``rebased(TIMINGS_DIR, Path("x/results"))`` is ``x/results/timings``. The reports use it
    when ``results/``, ``runs/`` or ``reports/`` are elsewhere (their folder parameters)."""
    return Path(top).joinpath(*Path(path).parts[1:])


# --- a training run's folder -------------------------------------------------------------------

#: Where DVCLive keeps per-step metrics inside its folder.
DVCLIVE_METRICS = Path("plots") / "metrics"


@dataclass(frozen=True)
class RunFolder:
    """The files of one training run (``srgan train --workdir DIR``).

    ``final.pt`` is the trained generator and ``final.json`` its metadata (readable without
    torch); ``checkpoints/step_<N>.pt`` hold resumable state; ``snapshots/step_<N>.pt`` the
    generator alone at the steps of ``train.snapshot_steps`` (kept, for the figures of the
    training's evolution); ``dvclive/`` the logged metrics; ``superseded/<UTC time>/``
    earlier state that could not continue into a new run; ``unreadable/`` files of the run
    that could not be read (a damaged final.pt or checkpoint), set aside rather than deleted;
    ``.lock`` is held while a run trains here.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def final(self) -> Path:
        return self.root / "final.pt"

    @property
    def final_metadata(self) -> Path:
        return self.root / "final.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:09d}.pt"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    def snapshot(self, step: int) -> Path:
        return self.snapshots / f"step_{step:09d}.pt"

    @property
    def dvclive(self) -> Path:
        return self.root / "dvclive"

    @property
    def metrics(self) -> Path:
        """DVCLive's per-step metric files: ``dvclive/plots/metrics/**/<name>.tsv``."""
        return self.dvclive / DVCLIVE_METRICS

    @property
    def superseded(self) -> Path:
        return self.root / "superseded"

    @property
    def unreadable(self) -> Path:
        return self.root / "unreadable"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def secrets(self) -> tuple[Path, ...]:
        database = self.database
        wal, shm = (database.with_name(database.name + end) for end in ("-wal", "-shm"))
        return (database, wal, shm, self.codes, self.manifest)
