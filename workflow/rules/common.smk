# Shared by the other .smk files: the effective configuration, its validation, and the values
# the rules are wired with. Functions live here only (Snakemake's lint wants rules and functions
# in separate files). See the Snakefile's header for how the configuration reaches the jobs.

import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from srgan import datasets
from srgan.config import (
    PARAMS_FILE,
    benchmarks_dir,
    from_dict,
    merged_config_dict,
    train_images_dir,
)
from srgan.errors import UserError

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


class ConfigLayers:
    """The `srgan` options naming the layers Snakemake merged: params.yaml, each
    --configfile, then the --config pairs. Each job merges the same layers with the same
    code (srgan.config.merged_config_dict), so it sees exactly the configuration the DAG was
    built from. Not a str on purpose: Snakemake leaves non-builtin params out of its rerun
    check, so a new layer alone reruns nothing; a rule's `fingerprint` param does that."""

    def __init__(self, params_file, overlays, sets):
        args = ["--params", params_file]
        for path in overlays:
            args += ["--config", path]
        for pair in sets:
            args += ["--set", pair]
        self.text = shlex.join(args)

    def __str__(self):
        return self.text


OVERLAYS = [os.path.relpath(path) for path in workflow.config_settings.configfiles]
SETS = _command_line_sets(workflow.config_settings.config)
try:
    EFFECTIVE = merged_config_dict(Path(PARAMS_FILE), OVERLAYS, SETS)
    CFG = from_dict(EFFECTIVE)
    datasets.check_sources(CFG)
except UserError as exc:
    raise WorkflowError(f"bad configuration: {exc}") from None
config.clear()
config.update(EFFECTIVE)
LAYERS = ConfigLayers(PARAMS_FILE, OVERLAYS, SETS)


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

DATA = CFG.data.root
MIRROR = CFG.data.mirror
BENCH_DIR = str(benchmarks_dir(CFG))
TRAIN_DIR = str(train_images_dir(CFG))
TRAIN_SET = datasets.train_set_name(CFG)
TEST_SETS = datasets.test_set_names(CFG)
EVAL_SETS = list(CFG.evaluate.datasets)
VARIANTS = list(CFG.workflow.variants)
METHODS = [*CFG.evaluate.baselines, *VARIANTS]
THREADS = CFG.workflow.threads
DEPTH = CFG.workflow.depth
DEPTH_RUNS = [f"b{blocks}_skip{int(skip)}" for blocks in DEPTH.blocks for skip in DEPTH.long_skip]
#: The set srgan train scores during training (srgan.training.eval_dataset): Set5 when it
#: is a test set, else the first evaluation set.
TRAINING_EVAL_SET = "Set5" if "Set5" in TEST_SETS else (EVAL_SETS[0] if EVAL_SETS else None)
SRGAN_INIT = "srresnet_mse"  # every srgan_* variant starts from this generator (paper 3.2)


def manifest(name):
    return f"{DATA}/checksums/{name}.sha256"


#: What a training job reads: the training set, and the set training scores (when it does).
TRAIN_DATA = [manifest(TRAIN_SET)]
if CFG.train.eval_every and TRAINING_EVAL_SET in TEST_SETS:
    TRAIN_DATA.append(manifest(TRAINING_EVAL_SET))

#: Config keys every training job depends on, then those of each variant (steps included:
#: a longer schedule reruns the job, which resumes from its checkpoints). Keys of logging,
#: checkpoints, devices, data paths and workers are left out: they change no weights.
TRAIN_KEYS = (
    "seed",
    "scale",
    "demo",
    "data.train_set",
    "data.imagenet_samples",
    "data.crop_size",
    "data.batch_size",
    "data.on_bad_image",
    "model",
    "train.adam_beta1",
    "train.adam_beta2",
    "train.precision",
)
SRRESNET_KEYS = ("train.srresnet",)
SRGAN_KEYS = ("train.srgan", "discriminator", "loss.adversarial_weight")
VGG_KEYS = ("vgg", "loss.vgg_divisor")
VARIANT_KEYS = {
    "srresnet_mse": SRRESNET_KEYS,
    "srresnet_vgg22": (*SRRESNET_KEYS, *VGG_KEYS, "loss.tv_weight"),
    "srgan_mse": SRGAN_KEYS,
    "srgan_vgg22": (*SRGAN_KEYS, *VGG_KEYS),
    "srgan_vgg54": (*SRGAN_KEYS, *VGG_KEYS),
}
SRRESNET_VARIANTS = [v for v in VARIANTS if v.startswith("srresnet")]
SRGAN_VARIANTS = [v for v in VARIANTS if v.startswith("srgan")]


def train_fingerprint(variant):
    return fingerprint(*TRAIN_KEYS, *VARIANT_KEYS[variant])


#: What an evaluation depends on besides its model and images.
EVAL_FINGERPRINT = fingerprint("scale", "evaluate.datasets", "evaluate.tile")
#: Tables and reports are cheap: any configuration change rebuilds them.
REPORT_FINGERPRINT = json.dumps(EFFECTIVE, sort_keys=True)


def depth_overrides(wildcards):
    """The --set pairs of one depth-study model: B blocks, long skip on/off, its steps."""
    skip = "true" if wildcards.skip == "1" else "false"
    return shlex.join(
        [
            "--set",
            f"model.blocks={wildcards.blocks}",
            "--set",
            f"model.long_skip={skip}",
            "--set",
            f"train.srresnet.steps={DEPTH.steps}",
        ]
    )
