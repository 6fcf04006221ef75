"""How fast the demo's SRResNet-MSE learns: test-set PSNR against CPU time, per setting.

Usage: .venv/bin/python benchmarks/bench_demo_learning.py [--set key=value ...]
                                                          [--eval-every N] [--threads T]

Trains ``srresnet_mse`` with ``srgan.training.run.train`` (the code ``srgan train`` runs) under
``config/demo.yaml`` and the given ``--set`` pairs, in a temporary folder, on the bundled
photographs (SkimageTrain; scored on SkimageTest, whose bicubic PSNR is 28.35 dB). Prints the
PSNR logged every ``--eval-every`` steps and at the end, the bicubic PSNR to beat, and the
process CPU time of the whole run (training, scoring, start-up; on a shared machine the wall
time can be several times larger). With ``--threads 1`` (the default) it is what one demo job
gets on 2 cores.

docs/benchmarks.md lists the settings measured with it (e.g. ``--set model.channels=16
--set train.srresnet.lr=1.0e-3``) and why the profile's were chosen.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from _common import REPO_ROOT

from srgan.core import datasets, paths, variants
from srgan.core.config import load_config
from srgan.core.paper import SCALE
from srgan.data import acquire
from srgan.evaluation import protocol
from srgan.training import run as training

DEMO_PROFILE = REPO_ROOT / "config" / "demo.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between scores")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a demo job: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = [f"data.root={root / 'data'}", f"train.eval_every={args.eval_every}", *args.sets]
        config = load_config(REPO_ROOT / "params.yaml", [DEMO_PROFILE], sets)
        test_set = datasets.BUNDLED_TEST_SET
        acquire.export_bundled(test_set, paths.test_sets_dir(config) / test_set)
        acquire.ensure_bundled_train_set(config)
        bicubic = protocol.evaluate(
            protocol.baseline_upscaler(variants.BICUBIC, scale=SCALE),
            paths.test_sets_dir(config),
            [test_set],
            progress=False,
        )[test_set]["psnr"]
        start = time.process_time()
        run = paths.RunFolder(root / "run")
        training.train(
            variants.SRRESNET_MSE,
            run.root,
            config,
            progress=False,
            evaluate=protocol.training_evaluator(config),
        )
        cpu = time.process_time() - start
        scores = pd.read_csv(run.metrics / "eval" / f"{test_set}_psnr.tsv", sep="\t")
    print(f"settings: config/demo.yaml + {' '.join(args.sets) or '(none)'}")
    for row in scores.itertuples(index=False):
        print(f"step {row.step:6d}  {test_set} PSNR {row[1]:6.2f} dB")
    print(f"bicubic {bicubic:.2f} dB; CPU time of the run {cpu:.0f} s ({args.threads} thread)")


if __name__ == "__main__":
    main()
