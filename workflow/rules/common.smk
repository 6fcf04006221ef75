# Shared by the other .smk files: the effective configuration, its validation, and the values
# the rules are wired with. Functions live here only (Snakemake's lint wants rules and functions
# in separate files). See the Snakefile's header for how the configuration reaches the jobs.

import json
import math
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from srgan.core import datasets, identity, paths, variants
from srgan.data import acquire
from srgan.core.config import PARAMS_FILE, from_dict, merged_config_dict, write_effective
from srgan.core.errors import UserError

# The `srgan` command of the environment running Snakemake comes first on PATH, so jobs run
# the same code whether or not the environment is activated.
os.environ.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

#: The software environment of every rule (used with --software-deployment-method conda).
ENV = "../envs/srgan.yaml"


# --- the effective configuration ------------------------------------------------------------


def _yaml_text(value):
    """A --config value as YAML text again (Snakemake parses nested values as strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_text(item) for item in value) + "]"
    return str(value)


def _dotted_pairs(tree, prefix=""):
    """Nested --config values as dotted ``key=value`` pairs."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _dotted_pairs(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}={_yaml_text(value)}"


def _command_line_sets(raw):
    """``--config set="a.b=1 c.d=x"`` (or a YAML list) plus any other --config key."""
    raw = dict(raw)
    pairs = raw.pop("set", [])
    pairs = pairs.split() if isinstance(pairs, str) else [str(pair) for pair in pairs]
    return [*_dotted_pairs(raw), *pairs]


class EffectiveConfig:
    """The `srgan` option naming the effective configuration, results/config.yaml: params.yaml,
    each --configfile, then the --config pairs, merged once here and written when the run
    starts (onstart, in the Snakefile). Every job reads it and nothing else, so each sees
    exactly the configuration the DAG was built from. Not a str on purpose: Snakemake leaves
    non-builtin params out of its rerun check, so the file alone reruns nothing; a rule's
    `trigger` or `fingerprint` param does that."""

    def __init__(self, path):
        self.text = shlex.join(["--params", str(path)])

    def __str__(self):
        return self.text


OVERLAYS = [os.path.relpath(path) for path in workflow.config_settings.configfiles]
SETS = _command_line_sets(workflow.config_settings.config)
try:
    EFFECTIVE = merged_config_dict(Path(PARAMS_FILE), OVERLAYS, SETS)
    CFG = from_dict(EFFECTIVE)
    acquire.check_sources(CFG)
except UserError as exc:
    raise WorkflowError(f"bad configuration: {exc}") from None
config.clear()
config.update(EFFECTIVE)
LAYERS = EffectiveConfig(paths.EFFECTIVE_CONFIG)


def _lookup(dotted):
    node = EFFECTIVE
    for part in dotted.split("."):
        node = node[part]
    return node


def fingerprint(*keys):
    """The named (dotted) config keys as sorted JSON: a rule's rerun trigger (`params`)."""
    return json.dumps({key: _lookup(key) for key in keys}, sort_keys=True)


def names_regex(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# --- what the rules are wired with ------------------------------------------------------------
# Names and paths come from srgan.core.variants and srgan.core.paths (the one place for each decision);
# this file only collects what the rules need.

MIRROR = CFG.data.mirror
TEST_DIR = str(paths.test_sets_dir(CFG))
TRAIN_DIR = str(paths.train_images_dir(CFG))
TRAIN_SET = paths.train_set_name(CFG)
TEST_SETS = acquire.test_set_names(CFG)
EVAL_SETS = list(CFG.evaluate.datasets)
VARIANTS = [v.name for v in variants.selected(CFG)]
SRRESNET_VARIANTS = [v.name for v in variants.selected(CFG) if not v.adversarial]
SRGAN_VARIANTS = [v.name for v in variants.selected(CFG) if v.adversarial]
METHODS = [*CFG.evaluate.baselines, *VARIANTS]
THREADS = CFG.workflow.threads
DEPTH = CFG.workflow.depth
DEPTH_RUNS = [
    paths.depth_run_name(blocks, int(skip)) for blocks in DEPTH.blocks for skip in DEPTH.long_skip
]
#: A depth-study model's name as a pattern of the wildcards {blocks} and {skip}.
DEPTH_RUN_PATTERN = paths.depth_run_name("{blocks}", "{skip}")
#: The set srgan train scores during training (None: it scores nothing).
TRAINING_EVAL_SET = variants.training_eval_set(CFG)


def manifest(name):
    return str(paths.manifest(CFG, name))


def run_file(variant, which="final"):
    """runs/<variant>/final.pt (the model) or final.json (its metadata)."""
    folder = paths.RunFolder(paths.run_dir(variant))
    return str(folder.final if which == "final" else folder.final_metadata)


def depth_run_file(name, which="final"):
    """runs/depth/<name>/final.pt or final.json."""
    folder = paths.RunFolder(paths.depth_run_dir(name))
    return str(folder.final if which == "final" else folder.final_metadata)


def table_files(name):
    """results/tables/<name>.csv and .json."""
    return [str(paths.table_file(name, suffix)) for suffix in (".csv", ".json")]


def report_files(name):
    """reports/<name>.html."""
    return [str(paths.report_page(name))]


#: Touched once every set is in place (the training set, and the test sets: training scores
#: TRAINING_EVAL_SET). A training job's only data input, as `ancient`: its input files never
#: change with the configuration, so what reruns it is its `trigger` param alone, the run
#: identity `srgan train` decides with (tests/test_identity.py checks both sides agree).
DATA_READY = str(paths.DATA_READY)
TRAIN_DATA = [ancient(DATA_READY)]


def train_trigger(variant):
    """A training job's rerun trigger: srgan.core.identity.rerun_trigger, the same function that
    decides, inside `srgan train`, whether a run starts over, continues or is complete."""
    return identity.rerun_trigger(CFG, variants.get(variant))


#: What an evaluation depends on besides its model and images (srgan.core.identity, which also
#: names the keys `srgan evaluate` reads); the depth study scores PSNR and SSIM on
#: workflow.depth.dataset, so the perceptual settings are not part of its fingerprint.
EVAL_FINGERPRINT = identity.evaluation_trigger(identity.evaluation_identity(CFG))
DEPTH_EVAL_FINGERPRINT = identity.evaluation_trigger(identity.depth_evaluation_identity(CFG))
#: The depth study's evaluation: its one set, PSNR and SSIM only (as the paper's appendix).
DEPTH_EVALUATION = shlex.join(
    ["--datasets", DEPTH.dataset, "--set", "evaluate.perceptual.enabled=false"]
)
#: Tables and reports are cheap: any configuration change rebuilds them.
REPORT_FINGERPRINT = json.dumps(EFFECTIVE, sort_keys=True)


def depth_sets(wildcards):
    """The --set pairs of one depth-study model: B blocks, long skip on/off, its steps."""
    skip = "true" if wildcards.skip == "1" else "false"
    return [
        f"model.blocks={wildcards.blocks}",
        f"model.long_skip={skip}",
        f"train.srresnet.steps={DEPTH.steps}",
    ]


def depth_overrides(wildcards):
    """depth_sets as `srgan train` options."""
    return shlex.join([arg for pair in depth_sets(wildcards) for arg in ("--set", pair)])


def depth_config(wildcards):
    """The configuration of one depth-study model: the effective one, with its overrides."""
    sets = [*SETS, *depth_sets(wildcards)]
    return from_dict(merged_config_dict(Path(PARAMS_FILE), OVERLAYS, sets))


def depth_trigger(wildcards):
    """The rerun trigger of a depth-study model: its variant's, with the depth overrides laid
    over the effective configuration as its job lays them (merged_config_dict)."""
    return identity.rerun_trigger(depth_config(wildcards), variants.get(variants.DEPTH_STUDY))


# --- resources ------------------------------------------------------------------------------
# What a job asks of the machine or the cluster (docs/cluster.md). Where jobs run, and with
# how much memory, is the profile's (workflow/profiles/default on one machine,
# workflow/profiles/slurm on a cluster); what follows from the configuration is here.

#: The GPUs of a training or model-evaluation job: one, none when the configured device is
#: the CPU. `--resources gpu=N` runs at most N such jobs at once (each takes its own GPU:
#: srgan.core.gpuslots); on SLURM the plugin turns it into `sbatch --gpus=1`.
GPUS = 0 if CFG.device == "cpu" else 1

#: A training job's time limit (the `runtime` resource, in minutes; only a cluster uses it):
#: its steps at workflow.steps_per_second, times RUNTIME_MARGIN, plus SETUP_MINUTES (reading
#: and decoding the training set, loading VGG19, scoring during training, writing the model).
#: A job that reaches its limit anyway writes a checkpoint on SLURM's early SIGTERM and the
#: next attempt continues (the cluster profile's `retries`).
RUNTIME_MARGIN = 1.25
SETUP_MINUTES = 15


def train_minutes(config, variant):
    """The time limit of training ``variant`` under ``config``, in whole minutes."""
    spec = variants.get(variant)
    rates = config.workflow.steps_per_second
    plain = spec.content == variants.MSE and not spec.adversarial
    rate = rates.srresnet_mse if plain else rates.others
    steps = variants.schedule(config, spec).steps
    return math.ceil(steps / rate / 60 * RUNTIME_MARGIN + SETUP_MINUTES)


def train_runtime(wildcards):
    return train_minutes(CFG, wildcards.variant)


def depth_runtime(wildcards):
    return train_minutes(depth_config(wildcards), variants.DEPTH_STUDY)
