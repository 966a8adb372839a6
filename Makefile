# Event-processing platform: build, test, run.
#   make            release build of the six daemons, tools and libcommon into build/
#   make test       installs what is missing, sanitizer build into build/asan/, runs every test
#   make run        installs what is missing, builds, starts the local stack (Ctrl-C stops it)
#   make stop       stops a stack started by `make run` from another shell
#   make bench      runs the benchmarks in bench/
#   make deps       installs the Debian packages the project needs (no-op when present)
# Out-of-tree: O=<dir> selects the build tree, SANITIZE=1 adds ASan+UBSan.

.DEFAULT_GOAL := all

O ?= build
SANITIZE ?= 0
CC ?= cc

SERVICES := gateway registry processor rules store output

PKGS := rdkafka jansson libmicrohttpd hiredis libpq libjwt libcurl openssl zlib libpcre2-8 avro-c libxcrypt
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Werror
CFLAGS_STD := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -g -MMD -MP -Icommon/include $(PKG_CFLAGS)
ifeq ($(SANITIZE),1)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN := -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
CC := clang
OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
       -fno-sanitize-recover=all
LDSAN := -fsanitize=fuzzer,address,undefined
else
OPT := -O2
LDSAN :=
# jemalloc in release builds: the daemons allocate small blocks on one thread that librdkafka's
# threads free (and the reverse); glibc's arenas contend on that, jemalloc does not (measured:
# the processor ~40 % faster). The sanitizer builds keep their own allocator.
MALLOC_LIBS := $(shell pkg-config --libs jemalloc 2>/dev/null)
endif
ALL_CFLAGS := $(CFLAGS_STD) $(OPT) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) $(MALLOC_LIBS) -lpthread -lm

COMMON_SRC := $(wildcard common/src/*/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(O)/obj/%.o)
LIBCOMMON := $(O)/lib/libcommon.a

# Each service: main.c wires, the other files hold the logic and go into libsvc_<svc>.a so unit
# tests can link them.
define service_rules
$(1)_SRC := $$(filter-out services/$(1)/main.c,$$(wildcard services/$(1)/*.c))
$(1)_OBJ := $$($(1)_SRC:%.c=$$(O)/obj/%.o)
$$(O)/lib/libsvc_$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$$(O)/bin/$(1): $$(O)/obj/services/$(1)/main.o $$(O)/lib/libsvc_$(1).a $$(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDSAN) -o $$@ $$^ $$(LDLIBS_ALL)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

SVC_LIBS := $(SERVICES:%=$(O)/lib/libsvc_%.a)
TOOLS := devkafka devtoken expr-eval schema-validate jcs
# A service's own commands (services/<svc>/cmd/<name>.c → bin/<name>), e.g. the processor's
# offline twin pipeline-run.
SVC_CMDS := $(foreach s,$(SERVICES),$(patsubst services/$(s)/cmd/%.c,$(s)/%,$(wildcard services/$(s)/cmd/*.c)))
BINS := $(SERVICES:%=$(O)/bin/%) $(TOOLS:%=$(O)/bin/%) $(foreach c,$(SVC_CMDS),$(O)/bin/$(notdir $(c)))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRC:tests/integration/%.c=$(O)/tests/integration/%)
# every other C file there is a helper the integration tests share (harness.c, fixtures)
TEST_HELPER_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(filter-out $(INTEG_SRC),$(wildcard tests/integration/*.c)))
TEST_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/fuzz/%)
$(O)/fuzz/%: $(O)/obj/tests/fuzz/%.o $(SVC_LIBS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $< $(SVC_LIBS) $(LIBCOMMON) $(LDLIBS_ALL)

fuzz-build: $(FUZZ_BINS)

# `make fuzz`: libFuzzer targets built with clang into build/fuzz/, each replaying its corpus
# (tests/fuzz/corpus/<name>/) once. FUZZ_SECONDS=N fuzzes each target N seconds more.
fuzz: deps
	$(MAKE) O=build/fuzz SANITIZE=fuzz fuzz-build
	scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

.SECONDARY:
.PHONY: all deps fuzz fuzz-build test test-build run stop bench clean format
all: $(BINS) $(LIBCOMMON)

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The JSON Schema meta-schemas, embedded from Debian's python3-jsonschema (generated, not kept).
METASCHEMA_DIR ?= /usr/lib/python3/dist-packages/jsonschema/schemas
$(O)/gen/metaschemas.inc: scripts/gen-metaschemas.sh
	@mkdir -p $(dir $@)
	scripts/gen-metaschemas.sh $(METASCHEMA_DIR) >$@.tmp && mv $@.tmp $@
$(O)/obj/common/src/formats/jsonschema_meta.o: $(O)/gen/metaschemas.inc
$(O)/obj/common/src/formats/jsonschema_meta.o: ALL_CFLAGS += -I$(O)/gen

# tools/<name>/<name>.c → bin/<name>
define tool_rule
$$(O)/bin/$(1): $$(O)/obj/tools/$(1)/$(1).o $$(SVC_LIBS) $$(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDSAN) -o $$@ $$< $$(SVC_LIBS) $$(LIBCOMMON) $$(LDLIBS_ALL)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

define cmd_rule
$$(O)/bin/$(notdir $(1)): $$(O)/obj/services/$(dir $(1))cmd/$(notdir $(1)).o $$(O)/lib/libsvc_$(patsubst %/,%,$(dir $(1))).a $$(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDSAN) -o $$@ $$^ $$(LDLIBS_ALL)
endef
$(foreach c,$(SVC_CMDS),$(eval $(call cmd_rule,$(c))))

# bench/<name>/bench_<name>.c → bin/bench-<name> (built by `make bench`, not by `make`)
BENCHES := $(patsubst bench/%/,%,$(dir $(wildcard bench/*/bench_*.c)))
define bench_rule
$$(O)/bin/bench-$(1): $$(O)/obj/bench/$(1)/bench_$(1).o $$(SVC_LIBS) $$(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDSAN) -o $$@ $$< $$(SVC_LIBS) $$(LIBCOMMON) $$(LDLIBS_ALL)
endef
$(foreach b,$(BENCHES),$(eval $(call bench_rule,$(b))))

$(O)/tests/unit/%: $(O)/obj/tests/unit/%.o $(SVC_LIBS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $< $(SVC_LIBS) $(LIBCOMMON) $(TEST_LIBS) $(LDLIBS_ALL)

$(O)/tests/integration/%: $(O)/obj/tests/integration/%.o $(TEST_HELPER_OBJ) $(SVC_LIBS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $< $(TEST_HELPER_OBJ) $(SVC_LIBS) $(LIBCOMMON) $(TEST_LIBS) $(LDLIBS_ALL)

test-build: $(BINS) $(UNIT_BINS) $(INTEG_BINS)

deps:
	@scripts/deps.sh

test: deps
	$(MAKE) O=build/asan SANITIZE=1 test-build
	$(MAKE) O=build/fuzz SANITIZE=fuzz fuzz-build
	scripts/test.sh build/asan build/fuzz

run: deps
	$(MAKE) all
	scripts/stack.sh run

stop:
	scripts/stack.sh stop

bench: deps
	$(MAKE) all
	scripts/bench.sh build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
