# The README's two commands: `make demo` and `make test`.  Both create .venv and install mlcost
# from scratch; constraints.txt pins the CPU build of torch (a newer torch would pull a CUDA build).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) -e '.[all]'

install-test: $(BIN)/python
	$(PIP) -e '.[test]'

demo: install
	$(BIN)/mlcost profile examples/cnn.py:build --input-shape 1,3,224,224
	$(BIN)/mlcost profile examples/transformer.py:build --depth 2

test: install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-test
	$(PIP) -e '.[bench]'
	$(BIN)/python bench/profile.py

clean:
	rm -rf $(VENV) dist build .pytest_cache
