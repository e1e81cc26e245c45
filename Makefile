# mmal's front door: `make demo` runs the embedded default, `make test` the tests.
# Both set up .venv first (tools/install_env.sh; seconds when already set up).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.mmal-installed
DEMO_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: env demo study study-coldstart test bench

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

# The README's results tables: every digits strategy, seeds 0-9, at the demo's
# budgets (100 + 50 x 4) and at a low budget (20 + 20 x 4; batches of 10, as
# batches of 32 with drop_last would leave 20 labels no step), paired to random.
STUDY_DIR ?= work_dirs/study_digits
STUDY_SEEDS ?= 0 1 2 3 4 5 6 7 8 9
STUDY_CONFIGS := $(addprefix configs/demo/resnet18_digits_,random.py entropy.py \
	coreset.py lloss.py lloss_frozen_diverse.py lloss_frozen.py lloss_diverse.py \
	margin.py least_confidence.py badge.py bald.py random_reset.py lloss_reset.py)
STUDY = $(PYTHON) tools/al_study.py $(STUDY_CONFIGS) --seeds $(STUDY_SEEDS) \
	--jobs 2 --baseline resnet18_digits_random
study: $(STAMP)
	$(STUDY) --work-dir $(STUDY_DIR) --title 'ResNet-18 on 8x8 digits, 100 + 50 x 4'
	$(STUDY) --work-dir $(STUDY_DIR)_low --title 'ResNet-18 on 8x8 digits, 20 + 20 x 4' \
		--cfg-options train_cfg.initial_size=20 train_cfg.query_size=20 \
		train_dataloader.batch_size=10

# Cold start at the first cycle: the initial set alone (random, TypiClust and
# ProbCover on SimCLR features) and SimCLR initialisation, 100 labels.
study-coldstart: $(STAMP)
	$(PYTHON) tools/al_study.py $(addprefix configs/demo/resnet18_digits_,random.py \
		random_typiclust.py random_probcover.py ssl_init.py) --seeds 0 1 2 3 4 \
		--jobs 2 --baseline resnet18_digits_random --work-dir $(STUDY_DIR)_coldstart \
		--cfg-options train_cfg.cycles=1 --title 'Digits, first cycle, 100 labels'

test: $(STAMP)
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

bench: $(STAMP)
	$(PYTHON) benchmarks/run.py
