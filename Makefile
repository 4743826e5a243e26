# Quick start (README): `make demo` runs the main job on defaults, `make test` runs the tests.
# Both install what they need first (PyPI packages; the Debian Fashion-MNIST package as root).

PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install demo test bench
install: .installed

.installed: pyproject.toml Makefile
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null \
	    && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian package dataset-fashion-mnist"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[train,hw,test]"
	touch .installed

demo: install
	$(PYTHON) -m augsnn demo

# A worker per logical CPU (pytest-xdist; `-n auto` counts physical cores where psutil is
# installed), a test at a time to the next free worker, the long tests first (tests/conftest.py).
test: install
	$(PYTHON) -m pytest -q -n logical --dist load --maxschedchunk 1

bench: install
	$(PYTHON) bench/golden_bench.py
