# Two commands for a fresh clone (see README.md):
#   make demo   create .venv from uv.lock, then run the offline demo replication
#   make test   create .venv from uv.lock, then run the test suite
# Only Python 3.11 and pip are needed; uv is installed into .uv/ (pinned) and
# builds .venv from the lock file, so torch and torchvision are a matching pair.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: setup demo test lint notebooks lock clean-env

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced .dvc/plots_page.html

# The page `dvc plots show` fills (.dvc/config), its chart library inlined from the environment
# so that it renders offline (docs/dvc.md, "Plots").
.dvc/plots_page.html: $(VENV)/.synced
	$(VENV)/bin/srgan plots-page --out $@

# `make demo MIRROR=../shared/data` uses a local data mirror's real benchmark sets instead.
demo: setup
	$(VENV)/bin/srgan demo $(if $(MIRROR),--mirror $(MIRROR))

test: setup
	$(VENV)/bin/python -m pytest -n 2

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks

# The report notebooks' source is notebooks/<name>.py (jupytext's percent format): after
# editing one, regenerate the .ipynb files papermill runs (stable cell ids: same source, same
# file; tests/test_notebooks.py checks they are up to date).
notebooks: setup
	$(VENV)/bin/python -c "from srgan.report.notebooks import write_notebooks; write_notebooks()"

# After editing dependencies in pyproject.toml: re-lock and regenerate the pip/conda export.
lock: $(UV)
	$(UV) lock
	$(UV) export --frozen --no-hashes --no-emit-project --no-dev --format requirements-txt \
		-o requirements.lock.txt

clean-env:
	rm -rf .venv .uv
