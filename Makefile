# The two commands a new machine needs:
#   make demo   train the demo experiments and start TensorBoard with the iNNspector tab
#   make test   run every test
# Both create the virtual environment and install what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_LOGDIR ?= demo_logs
PORT ?= 6006
NODE_STAMP := frontend/node_modules/.installed

.PHONY: demo test test-fast lint venv proto types bench clean frontend

$(STAMP): requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Rebuilds the committed bundle (innspector_tb/static/) from frontend/src.
frontend: $(NODE_STAMP)
	cd frontend && node build.mjs

demo: $(STAMP)
	$(PY) -m demo.train --logdir $(DEMO_LOGDIR) --port $(PORT)

# The Python code: ruff's lint and format check (ruff.toml), then mypy on the package (mypy.ini).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The Python lint first; the committed bundle must match its source, and the generated answer types
# their OpenAPI document (tests/test_openapi.py checks frontend/openapi.json against openapi.py); then
# type check, frontend unit tests, and every Python test (the browser tests among them, in Debian's chromium).
test: $(STAMP) $(NODE_STAMP) lint
	tools/ensure_chromium.sh
	cd frontend && node build.mjs --check && node types.mjs --check && npx tsc --noEmit -p . && npm test
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest tests -q -p no:cacheprovider

# The edit-test loop: the Python lint, then the Python unit tests only, leaving out the tests marked `slow`
# (they train models, start tensorboard or a process that imports TensorFlow) and `browser` (pytest.ini).
# No frontend checks; `make test` runs everything, the lint and the frontend checks first.
test-fast: $(STAMP) lint
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest tests -q -p no:cacheprovider -m "not browser and not slow"

# Regenerates the protobuf code from proto/ (the output is committed).
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=innspector_tb/format/proto proto/plugin_data.proto

# Regenerates the route answers' types: the OpenAPI document (innspector_tb/server/openapi.py) into
# frontend/openapi.json, then frontend/src/api.gen.ts from it with openapi-typescript (both committed).
types: $(STAMP) $(NODE_STAMP)
	$(PY) -m innspector_tb.server.openapi frontend/openapi.json
	cd frontend && node types.mjs

# bench/codec.py and bench/load.py use the demo logs: the demo is trained first if $(DEMO_LOGDIR) is missing.
bench: $(STAMP) $(NODE_STAMP)
	$(PY) bench/import_cost.py
	$(PY) bench/logging_overhead.py
	$(PY) bench/scale.py
	$(PY) bench/probe_trace.py
	$(PY) bench/tensorboard_memory.py
	$(PY) bench/backend.py
	$(PY) bench/frontend.py
	$(PY) bench/widgets.py
	test -d $(DEMO_LOGDIR) || $(PY) -m demo.train --logdir $(DEMO_LOGDIR) --no-serve
	$(PY) bench/codec.py $(DEMO_LOGDIR)
	$(PY) bench/load.py $(DEMO_LOGDIR)

clean:
	rm -rf $(VENV) $(DEMO_LOGDIR) build *.egg-info frontend/node_modules frontend/build
