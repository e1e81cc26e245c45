# mmal's front door: `make demo` runs the embedded default, `make test` the tests.
# Both set up .venv first (tools/install_env.sh; seconds when already set up).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.mmal-installed
DEMO_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: env demo study test bench

env: $(STAMP)

# The script writes the stamp only when the whole set-up succeeded.
$(STAMP): tools/install_env.sh setup.py $(wildcard requirements/*.txt)
	bash tools/install_env.sh "$(VENV)"

# Learning loss (paper recipe), mmal's best learning-loss variant in `make study`
# (frozen features + diverse query) and random selection on scikit-learn's digits,
# 3 seeds each, through tools/al_study.py (mean ± std bands). A re-run skips
# finished runs and resumes interrupted ones; DEMO_SEEDS=0 is a third of the time.
DEMO_SEEDS ?= 0 1 2
DEMO_VARIANT ?= configs/demo/resnet18_digits_lloss_frozen_diverse.py
demo: $(STAMP)
	$(PYTHON) tools/al_study.py configs/demo/resnet18_digits_lloss.py \
		$(DEMO_VARIANT) configs/demo/resnet18_digits_random.py \
		--seeds $(DEMO_SEEDS) --work-dir $(DEMO_DIR) --jobs 2 \
		--baseline resnet18_digits_random --title 'ResNet-18 on 8x8 digits'

# The README's results table: every digits strategy, 5 seeds, full demo budgets.
STUDY_DIR ?= work_dirs/study_digits
STUDY_CONFIGS := $(addprefix configs/demo/resnet18_digits_,lloss.py \
	lloss_frozen.py lloss_diverse.py lloss_frozen_diverse.py entropy.py \
	coreset.py random.py)
study: $(STAMP)
	$(PYTHON) tools/al_study.py $(STUDY_CONFIGS) --seeds 0 1 2 3 4 \
		--work-dir $(STUDY_DIR) --jobs 2 --baseline resnet18_digits_random \
		--title 'ResNet-18 on 8x8 digits, 5 seeds'

test: $(STAMP)
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(PYTHON) benchmarks/run.py
