# weft — thin front door over CMake (see README.md).
#   make test   install deps, build, run every tier (plus the sanitizer build)
#   make demo   install deps, build, run the demo
#   make bench  benchmarks (timings live here, never in tests)
#   make fuzz   build libFuzzer targets with clang and fuzz each for FUZZ_SECONDS
JOBS        ?= 2
BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan test test-fast demo bench fuzz clean

all: build

deps:
	@bash scripts/deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@CC=clang cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# Every tier on the release build, then every tier again under ASan+UBSan
# (integration tests fail on any sanitizer report in the proxies' logs),
# except tests labelled "slow" (the testssl scan), which run once.
test: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j 1
	@cd $(BUILD_ASAN) && ctest --output-on-failure -j 1 -LE slow

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -L 'unit|fuzz' -j $(JOBS)

demo: build
	@bash demo/run.sh $(BUILD)/bin

bench: build
	@bash bench/run.sh $(BUILD)/bin $(BENCH_ARGS)

fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@bash scripts/fuzz-all $(BUILD_FUZZ)/bin $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
