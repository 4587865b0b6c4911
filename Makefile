# clove: top-level entry points. Every target installs what it needs first (scripts/setup.sh).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
HTTP ?= 127.0.0.1:8090
MAKEFLAGS += --no-print-directory

.PHONY: all setup build build-bin build-asan run test test-release test-asan bench install clean example

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/Makefile: CMakeLists.txt | setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# only what `make run` needs: the binaries, not the test programs
build-bin: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target cloved clove clove-example-data

build-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCLOVE_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

example: build-bin
	@test -f examples/quickstart/data/taxi_trips.parquet || \
	  $(BUILD)/bin/clove-example-data examples/quickstart/data

run: build-bin example
	@echo
	@echo "clove is starting on http://$(HTTP) with examples/quickstart/spicepod.yaml"
	@echo "query it from another terminal:"
	@echo "  curl -s -XPOST http://$(HTTP)/v1/sql -d 'SELECT vendor, count(*) AS trips, round(avg(fare), 2) AS avg_fare FROM taxi_trips GROUP BY vendor ORDER BY vendor'"
	@echo "  $(BUILD)/bin/clove sql -e 'SELECT * FROM taxi_trips LIMIT 5'"
	@echo "stop it with Ctrl-C"
	@echo
	@$(BUILD)/bin/cloved --http $(HTTP) examples/quickstart

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

test: test-release test-asan

bench: build
	@bash bench/run.sh

install: build
	@install -d /usr/local/bin /usr/local/lib/clove
	@install -m 0644 deps/duckdb/lib/libduckdb.so /usr/local/lib/clove/libduckdb.so
	@cmake --install $(BUILD) --prefix /usr/local >/dev/null
	@echo "installed /usr/local/bin/cloved and /usr/local/bin/clove"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
