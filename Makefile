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

.PHONY: setup demo test check lint docs notebooks lock clean-env

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

# `make demo MIRROR=DIR` uses a data mirror's real test sets instead (docs/data.md).
demo: setup
	$(VENV)/bin/srgan demo $(if $(MIRROR),--mirror $(MIRROR))

# The full suite (CI runs it): about 47 minutes on 2 cores (docs/benchmarks.md). loadfile:
# each test file runs in one worker, so a module's fixture (the cluster tests' local run, the
# DVC project) is built once; the 15 slowest tests are listed at the end.
test: setup
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile --durations=15

# The fast path a developer runs before each commit: every test without a slow, process or
# browser mark (under 2 minutes on 2 cores); an unmarked test that starts a process or uses
# more than a few seconds of CPU fails (tests/conftest.py).
check: setup
	SRGAN_FAST_CHECK=1 $(VENV)/bin/python -m pytest -n 2 -q -m "not slow and not process and not browser"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks

# The documentation site (Sphinx + MyST, furo theme): docs/*.md into docs/_build/html, offline.
# Every warning fails the build: a broken link between pages, a missing heading anchor, a page
# left out of the table of contents (-E: every page read again, so none hides a warning).
DOCS_SRC ?= docs
DOCS_OUT ?= docs/_build/html
docs: setup
	$(VENV)/bin/sphinx-build -E -W --keep-going -n -q -b html $(DOCS_SRC) $(DOCS_OUT)

# The report notebooks' source is notebooks/<name>.py (jupytext's percent format): after
# editing one, regenerate the .ipynb files papermill runs (stable cell ids: same source, same
# file; tests/test_notebooks.py checks they are up to date).
notebooks: setup
	$(VENV)/bin/python -c "from srgan.report.notebooks import write_notebooks; write_notebooks()"

# After editing dependencies in pyproject.toml: re-lock and regenerate the pip/conda export.
lock: $(UV)
	$(UV) lock
	$(UV) export --frozen --no-hashes --no-emit-project --no-default-groups --format requirements-txt \
		-o requirements.lock.txt

clean-env:
	rm -rf .venv .uv
