#!/usr/bin/env bash
# Runs once after Snakemake creates the conda environment of envs/srgan.yaml, in that
# environment, from the project folder: the same locked packages as .venv, then the project.
set -euo pipefail
python -m pip install --no-deps -r requirements.lock.txt
python -m pip install --no-deps .
