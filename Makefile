# mmal's front door: `make demo` runs the embedded default, `make test` the tests.
# Both set up .venv first (tools/install_env.sh; seconds when already set up).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.mmal-installed
DEMO_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: env demo test bench

env: $(STAMP)

# The script writes the stamp only when the whole set-up succeeded.
$(STAMP): tools/install_env.sh setup.py $(wildcard requirements/*.txt)
	bash tools/install_env.sh "$(VENV)"

# Learning loss and random selection on scikit-learn's digits, then both curves in
# one figure. --resume makes a re-run continue (or skip) finished cycles.
demo: $(STAMP)
	$(PYTHON) tools/al_train.py configs/demo/resnet18_digits_lloss.py \
		--work-dir $(DEMO_DIR)/lloss --resume
	$(PYTHON) tools/al_train.py configs/demo/resnet18_digits_random.py \
		--work-dir $(DEMO_DIR)/random --resume
	$(PYTHON) tools/plot_al_curve.py $(DEMO_DIR)/lloss $(DEMO_DIR)/random \
		--out $(DEMO_DIR)/al_curve.png --title 'ResNet-18 on 8x8 digits'

test: $(STAMP)
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(PYTHON) benchmarks/run.py
