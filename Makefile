# The README's two commands: `make demo` and `make test`.  Both create .venv and install mlcost
# from scratch; constraints.txt pins the CPU build of torch (a newer torch would pull a CUDA build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test test-min install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) -e '.[all]'

install-test: $(BIN)/python
	$(PIP) -e '.[test]'

demo: install
	@mkdir -p out
	$(BIN)/mlcost profile examples/cnn.py:build --input-shape 1,3,224,224 --depth 2
	$(BIN)/mlcost profile examples/cnn.py:build --input-shape 1,3,224,224 --format json --output out/cnn.profile.json
	$(BIN)/mlcost compute --profile out/cnn.profile.json --samples 1.28e6 --epochs 90 --gpu v100 --count 8 \
	    --plot out/trend.png --format json --output out/cnn.compute.json
	$(BIN)/mlcost carbon --compute-json out/cnn.compute.json --gpu v100 --count 8 --region US
	$(BIN)/mlcost profile examples/transformer.py:build --depth 2
	$(BIN)/mlcost compute examples/transformer.py:build --tokens 2.6e9 --gpu a100 --format markdown

test: install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The suite on the lowest versions pyproject.toml declares (constraints-min.txt), in a venv of its own.
# torch stays the CPU 2.13.0 of constraints.txt: its declared floor comes from the APIs used, not from a run.
VENV_MIN := .venv-min

$(VENV_MIN)/bin/python:
	$(PYTHON) -m venv $(VENV_MIN)

test-min: $(VENV_MIN)/bin/python
	$(VENV_MIN)/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt -c constraints-min.txt -e '.[test]'
	$(VENV_MIN)/bin/python -m pip check
	$(VENV_MIN)/bin/python -m pytest -q -p no:cacheprovider

bench: install-test
	$(PIP) -e '.[bench]'
	$(BIN)/python bench/profile.py

clean:
	rm -rf $(VENV) $(VENV_MIN) dist build .pytest_cache
