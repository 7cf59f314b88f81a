# Everyday tasks.  `make help` lists them.
PYTHON ?= python

.PHONY: help install test test-c sanitize bench lint format sdist clean

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## build the C extension in place and install gcnn editable, with the test extras
	$(PYTHON) -m pip install -e ".[test]"

test:  ## the test suite (doctests and notebooks included)
	$(PYTHON) -m pytest

test-c:  ## the C kernels alone under AddressSanitizer and UndefinedBehaviorSanitizer
	$(MAKE) -C csrc test

# allocator_may_return_null=1: some tests ask for outputs too large for memory and expect
# MemoryError, where ASan's allocator would abort by default.
sanitize:  ## the Python test suite against an ASan/UBSan build of the extension (built aside, in build/sanitize)
	rm -rf build/sanitize build/sanitize-lib build/sanitize-tmp
	CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g" \
	LDFLAGS="-fsanitize=address,undefined" \
	$(PYTHON) setup.py build_ext --build-lib build/sanitize-lib --build-temp build/sanitize-tmp --force
	mkdir -p build/sanitize && cp -r gcnn build/sanitize/ && rm -f build/sanitize/gcnn/*.so
	cp build/sanitize-lib/gcnn/*.so build/sanitize/gcnn/
	cd build/sanitize && PYTHONPATH="$$PWD" ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	$(PYTHON) -m pytest -x -q -p no:cacheprovider --rootdir=../.. $(SANITIZE_PYTEST_ARGS) ../../tests

bench:  ## gcnn against its peers, side by side
	$(PYTHON) -m gcnn bench

lint:  ## ruff and the type checker
	ruff check gcnn tests notebooks
	ruff format --check gcnn tests
	$(PYTHON) -m mypy gcnn

format:  ## ruff format and clang-format
	ruff format gcnn tests
	clang-format -i csrc/*.c csrc/*.h

sdist:  ## source distribution and wheel in dist/
	$(PYTHON) -m build

clean:  ## build products
	rm -rf build dist *.egg-info gcnn/*.so
	$(MAKE) -C csrc clean
