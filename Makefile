# Two commands do everything (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Nothing in the demo or the tests may reach the network: the hub is off, the model is bundled.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: setup demo test lint bench lock clean

setup: $(STAMP)

# torch first, from the CPU wheel: any other torch request pulls GBs of CUDA packages.
$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e ".[dev,serve,onnx,openvino,model2vec]"
	touch $(STAMP)

demo: setup
	$(OFFLINE) $(BIN)/embedlab demo --out demo-output

lint: setup
	$(BIN)/ruff check embedlab tests bench
	$(BIN)/ruff format --check embedlab tests bench
	$(BIN)/mypy

test: lint
	$(OFFLINE) $(BIN)/pytest

bench: setup
	$(OFFLINE) $(BIN)/python bench/encode.py
	$(OFFLINE) $(BIN)/python bench/adapt.py scifact
	$(OFFLINE) $(BIN)/python bench/adapt.py esco
	$(OFFLINE) $(BIN)/python bench/tsdae.py
	$(OFFLINE) $(BIN)/python bench/unlabelled.py
	$(OFFLINE) $(BIN)/python bench/search.py
	$(OFFLINE) $(BIN)/python bench/rerank.py

# Re-pin every dependency after a change to pyproject.toml.
lock: setup
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(embedlab|torch|#)' | sort -f > requirements/constraints.new
	{ sed -n '1,2p' requirements/constraints.txt; echo torch==2.13.0; cat requirements/constraints.new; } > requirements/constraints.tmp
	mv requirements/constraints.tmp requirements/constraints.txt
	rm requirements/constraints.new

clean:
	rm -rf $(VENV) demo-output .mypy_cache .ruff_cache .pytest_cache
