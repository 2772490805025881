# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing
# and installs the package (editable) with what it needs; constraints.txt pins torch to the CPU wheel.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cogmodels-installed
PIP_FLAGS ?= --disable-pip-version-check

# OpenBLAS chooses its kernels by CPU, and float rounding follows the kernel. The byte-pinned tests
# (tests/test_*_pinned.py) were recorded with the AVX2 ("Haswell"; "Zen" gives the same bytes)
# kernels, which every x86-64 CPU with AVX2 runs; on an AVX-512 CPU OpenBLAS would otherwise pick
# "SkylakeX" and other bytes. torch likewise picks its vector kernels (ATen's CPU capability) by
# CPU: the trained-network tests were recorded with AVX2's. NumPy's own SIMD loops (exp, log, power,
# ...) dispatch by CPU as well: on an AVX-512 CPU they would take NumPy's X86_V4 / AVX512_ICL /
# AVX512_SPR loops and other last bits than the AVX2 (X86_V3) loops the pins were recorded with, so
# those targets are turned off (a no-op on a CPU without them; not when the caller sets NumPy's
# NPY_ENABLE_CPU_FEATURES, which cannot be set with it). torch's own BLAS, MKL, picks its kernels
# by CPU too: on an AMD CPU the pinned digests came out the same with MKL_CBWR=COMPATIBLE and
# MKL_ENABLE_INSTRUCTIONS=SSE4_2, but on an Intel AVX-512 CPU MKL's own kernels give other bytes
# (tests/test_meta_decoder.py's tiny training run: 18 successes, not 26; the NUTS draws of
# tests/test_bayes_centred.py; seen 2026-12-07, also with MKL_ENABLE_INSTRUCTIONS=AVX2 for the
# latter), so on an Intel CPU MKL runs in its conditional-numerical-reproducibility mode
# MKL_CBWR=COMPATIBLE, which gives the pinned bytes on both CPUs but runs torch's matrix products
# about 5 times slower (so it is not set on AMD CPUs, where MKL's own choice gives the pins).
# A value set by the caller wins.
HAS_AVX2 := $(shell grep -qsw avx2 /proc/cpuinfo && echo yes)
ifeq ($(HAS_AVX2),yes)
ifeq ($(origin OPENBLAS_CORETYPE),undefined)
export OPENBLAS_CORETYPE := Haswell
endif
ifeq ($(origin ATEN_CPU_CAPABILITY),undefined)
export ATEN_CPU_CAPABILITY := avx2
endif
ifeq ($(origin MKL_CBWR),undefined)
ifeq ($(shell grep -qsw GenuineIntel /proc/cpuinfo && echo yes),yes)
export MKL_CBWR := COMPATIBLE
endif
endif
ifeq ($(origin NPY_DISABLE_CPU_FEATURES)$(origin NPY_ENABLE_CPU_FEATURES),undefinedundefined)
export NPY_DISABLE_CPU_FEATURES := X86_V4 AVX512_ICL AVX512_SPR
endif
endif

.PHONY: demo test lint bench docs install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -q -c constraints.txt -e '.[dev,cluster,docs,bayes]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cogmodels demo

# Two workers, each file whole to one of them, the heaviest files first (by tests/durations.json;
# see conftest.py): the suite's budget is 10 minutes on a quiet 2-core machine.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_envs.py

# The documentation site, into docs/_build/html; warnings fail the build. The tutorials run in
# quick mode (COGMODELS_QUICK=1, about two minutes); `make docs DOCS_EXECUTE=off` skips them.
DOCS_EXECUTE ?= force
docs: $(STAMP)
	$(BIN)/python -m sphinx -b html -W --keep-going -D nb_execution_mode=$(DOCS_EXECUTE) docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

clean:
	rm -rf $(VENV) build dist *.egg-info demo-output docs/_build
