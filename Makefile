# relay — one GNU Makefile, read top to bottom.
#
#   make          build ./relay (one line naming a missing package, if any)
#   make run      install what building needs, build, start a development relay
#                 on https://localhost:8443
#   make test     install what testing needs, build, run the unit + integration
#                 tests, ending in "N passed, M failed"
#   make check    the same tests with AddressSanitizer + UBSan, and the chaos
#                 test (test/integration/test_chaos.py) for CHAOS_SECONDS
#                 (default 25; CHAOS_SEED=N replays a run: README.md, Tests)
#   make fuzz     build the fuzz targets with clang + libFuzzer and run each
#                 for FUZZ_SECONDS (default 60); fails on any crash
#   make bench    the relay against nginx under wrk, table at the end
#   make bench-profile  where the relay's full TLS 1.2 and 1.3 handshakes
#                 spend their CPU (perf), reports in build/bench/
#   make footprint  idle RSS, RSS per mailbox at 100k and 1M, binary size
#                 (all three: test/bench/README.md; each installs its tools first)
#   make deps     install every package all of these need (deps-build,
#                 deps-test, deps-fuzz, deps-bench, deps-profile: one set each)
#   make install  the binary, relay(8) and the systemd unit under PREFIX
#                 (/usr/local), inside DESTDIR if given; make uninstall
#   make clean
#
# V=1 shows the commands.  SANITIZE=address,undefined builds sanitized objects
# into a separate directory so that `make check` never mixes them with ours.

CC       ?= cc
PKG      ?= pkg-config
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -I.
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) -MMD -MP

# llhttp: Debian 13+ ships a library with a .pc file; Debian 12 ships the C
# sources in node-llhttp, which we compile ourselves (without -Werror: not ours).
# llhttp 8 (Debian 12) is lax unless built with LLHTTP_STRICT_MODE=1: it takes
# any two bytes for the CRLF after chunk data and spaces in header names, which
# is request smuggling behind a proxy that frames otherwise. The flag goes to
# llhttp's own files and, through DEP_CFLAGS, to every file that includes
# llhttp.h (protocol/http.c refuses to build without it). llhttp 9 (the .pc
# library) has no lax mode to choose. Obs-fold lines and bare LFs, which llhttp
# accepts either way, are refused by protocol/http.c itself.
ifeq ($(shell $(PKG) --exists libllhttp 2>/dev/null && echo yes),yes)
LLHTTP_CFLAGS := $(shell $(PKG) --cflags libllhttp)
LLHTTP_LIBS   := $(shell $(PKG) --libs libllhttp)
LLHTTP_SRC    :=
else
LLHTTP_DIR    ?= /usr/share/llhttp
LLHTTP_CFLAGS := -I/usr/share/include/llhttp -DLLHTTP_STRICT_MODE=1
LLHTTP_LIBS   :=
LLHTTP_SRC    := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c
endif

# mbedTLS 3.6 LTS: by default built here from Debian 13's source package
# (tools/mbedtls.sh fetches it into build/mbedtls/src, no root needed) with
# our configuration header, net/tls_config.h, which both the library and
# every relay object see: it changes struct layouts. Its headers come first,
# so that no other mbedTLS on the system can be picked up. MBEDTLS=system
# takes an installed mbedTLS >= 3.6 from pkg-config instead (its own config).
MBEDTLS ?= build
ifeq ($(MBEDTLS),system)
MBEDTLS_CFLAGS := $(shell $(PKG) --cflags mbedtls mbedx509 mbedcrypto 2>/dev/null) \
                  -DRELAY_TLS_SYSTEM
MBEDTLS_LIBS   := $(shell $(PKG) --libs mbedtls mbedx509 mbedcrypto 2>/dev/null)
MBEDTLS_BUILT  :=
else ifeq ($(MBEDTLS),build)
MBEDTLS_DIR    := build/mbedtls
MBEDTLS_CONFIG := $(CURDIR)/net/tls_config.h
# mbedTLS's Makefiles hand CFLAGS to the shell unquoted: a space in this
# tree's path must reach them escaped.
MBEDTLS_CONFIG_SH := $(subst $(subst ,, ),\ ,$(MBEDTLS_CONFIG))
# (Everest's header is included by mbedtls/ecdh.h.)
MBEDTLS_CFLAGS := -I$(MBEDTLS_DIR)/src/include -I$(MBEDTLS_DIR)/src/3rdparty/everest/include \
                  -DMBEDTLS_USER_CONFIG_FILE='"$(MBEDTLS_CONFIG)"'
MBEDTLS_LIBS   := $(addprefix $(MBEDTLS_DIR)/src/library/,libmbedtls.a libmbedx509.a \
                  libmbedcrypto.a)
MBEDTLS_BUILT  := $(MBEDTLS_DIR)/.built
# Upstream's -O2, but Everest's X25519 at -O3: GCC 12 then inlines its field
# arithmetic into the ladder, which halves the CPU of each X25519 (2 of them
# in every full TLS 1.2 handshake, 1 in TLS 1.3). The rest of the library
# measured no faster at -O3, so it keeps the flags upstream tests with.
MBEDTLS_LIB_CFLAGS := -DMBEDTLS_USER_CONFIG_FILE=\"$(MBEDTLS_CONFIG_SH)\"
MBEDTLS_O3_OBJS := ../3rdparty/everest/library/Hacl_Curve25519_joined.o
# net/mbedtls/ecp_alt.c (X25519's ladder step for PSA, by Everest) goes into
# libmbedcrypto.a, compiled like Everest's objects: it takes in Everest's
# source and includes one of mbedTLS's internal headers.
MBEDTLS_ALT_CFLAGS := -Wall -Wextra -Werror -I$(MBEDTLS_DIR)/src/include -I$(MBEDTLS_DIR)/src/library \
    $(addprefix -I$(MBEDTLS_DIR)/src/3rdparty/everest/,include include/everest \
        include/everest/kremlib library)
# How it was compiled: a change (or another compiler) rebuilds it.
MBEDTLS_FLAGS := build/mbedtls.flags
$(shell mkdir -p build && { [ "$$(cat $(MBEDTLS_FLAGS) 2>/dev/null)" = "$(CC) -O3 $(MBEDTLS_O3_OBJS)" ] || \
    echo "$(CC) -O3 $(MBEDTLS_O3_OBJS)" >$(MBEDTLS_FLAGS); })
else
$(error MBEDTLS is build (the default) or system, not $(MBEDTLS))
endif
# Every object that may include an mbedTLS header is rebuilt when the library
# is (its version or our configuration changed) and when MBEDTLS changes
# between runs: objects made against one mbedTLS's headers and linked with
# another's library misbehave quietly (enum values moved between versions).
MBEDTLS_MODE := build/mbedtls.mode
$(shell mkdir -p build && { [ "$$(cat $(MBEDTLS_MODE) 2>/dev/null)" = "$(MBEDTLS)" ] || \
    echo "$(MBEDTLS)" >$(MBEDTLS_MODE); })
MBEDTLS_DEPS := $(MBEDTLS_MODE) $(MBEDTLS_BUILT)

DEP_CFLAGS := $(MBEDTLS_CFLAGS) $(shell $(PKG) --cflags libevent jansson hiredis 2>/dev/null) \
              $(LLHTTP_CFLAGS)
LIBS       := $(shell $(PKG) --libs libevent jansson hiredis 2>/dev/null) $(LLHTTP_LIBS) \
              $(MBEDTLS_LIBS)

ifdef SANITIZE
BUILD  := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD  := build/rel
SANFLAGS :=
endif

ifneq ($(V),1)
Q := @
quiet = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
quiet =
endif

# Every module except the process entry point goes into one archive that the
# binary and the unit tests both link.
MODULE_SRC := $(wildcard lib/*.c net/*.c storage/*.c protocol/*.c server/*.c client/*.c)
MODULE_OBJ := $(MODULE_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/llhttp/%.o,$(LLHTTP_SRC))
LIBRELAY   := $(BUILD)/librelay.a
UNIT_SRC   := $(wildcard test/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:%.c=$(BUILD)/%)
# Each fuzz target also builds, with $(CC), into a unit test that replays its
# seed corpus and every saved crash (test/fuzz/replay.c).
FUZZ_TARGETS := request body preview snapshot conn
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/test/unit/fuzz_%)

ifdef SANITIZE
RELAY_BIN := $(BUILD)/relay
else
RELAY_BIN := relay
endif

# The chaos test needs the sanitizers to see what a bad close does to memory,
# so only the sanitized build runs it by default (CHAOS_SECONDS=0: skipped).
ifdef SANITIZE
CHAOS_SECONDS ?= 25
else
CHAOS_SECONDS ?= 0
endif

.PHONY: all run test check unit integration clean deps bench bench-profile footprint fuzz fuzz-cc \
        install uninstall
all: $(RELAY_BIN)

$(RELAY_BIN): $(BUILD)/cmd/relay.o $(LIBRELAY)
	$(call quiet,LINK,$@)$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

# The Redis store's Lua scripts, compiled in as C strings.
REDIS_SCRIPTS := $(sort $(filter-out %/common.lua,$(wildcard storage/redis/*.lua)))
# (One header for every build: release, sanitizers, fuzzers.)
REDIS_SCRIPTS_H := build/gen/redis_scripts.h
$(REDIS_SCRIPTS_H): $(REDIS_SCRIPTS) storage/redis/common.lua tools/embed_lua.sh | build-deps
	$(call quiet,GEN,$@)mkdir -p $(@D) && \
	    sh tools/embed_lua.sh storage/redis/common.lua $(REDIS_SCRIPTS) >$@.tmp && mv $@.tmp $@
$(BUILD)/storage/redis_store.o build/fuzz/obj/storage/redis_store.o: $(REDIS_SCRIPTS_H)
$(BUILD)/storage/redis_store.o build/fuzz/obj/storage/redis_store.o: CPPFLAGS += -Ibuild/gen

# Rebuilt with mbedTLS, so that everything linking it relinks.
$(LIBRELAY): $(MODULE_OBJ) $(LLHTTP_OBJ) $(MBEDTLS_DEPS)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(BUILD)/%.o: %.c $(MBEDTLS_DEPS) | build-deps
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) $(SANFLAGS) -c -o $@ $<

# llhttp's objects have no .d files; the Makefile holds their flags.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c Makefile | build-deps
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(LLHTTP_CFLAGS) -O2 -g $(SANFLAGS) -c -o $@ $<

$(BUILD)/test/unit/%: test/unit/%.c $(LIBRELAY)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) $(SANFLAGS) -o $@ $< $(LIBRELAY) $(LIBS)

$(FUZZ_REPLAY): $(BUILD)/test/unit/fuzz_%: $(BUILD)/test/fuzz/fuzz_%.o \
    $(BUILD)/test/fuzz/replay_%.o $(LIBRELAY)
	@mkdir -p $(dir $@)
	$(call quiet,LINK,$@)$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

$(FUZZ_TARGETS:%=$(BUILD)/test/fuzz/replay_%.o): $(BUILD)/test/fuzz/replay_%.o: test/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) $(SANFLAGS) \
	    -DFUZZ_TARGET='"$*"' -DFUZZ_DIR='"$(CURDIR)/test/fuzz"' -c -o $@ $<

# mbedTLS: fetched once (tools/mbedtls.sh), then built with our configuration
# header, again whenever it changes. Not sanitized: the sanitizers watch our
# code, and mbedTLS's own tests cover its.
# The -O3 objects are built first, so `make lib` finds them up to date.
ifeq ($(MBEDTLS),build)
$(MBEDTLS_DIR)/src/.relay-version: | build-deps
	$(Q)sh tools/mbedtls.sh $(MBEDTLS_DIR)

$(MBEDTLS_BUILT): $(MBEDTLS_DIR)/src/.relay-version net/tls_config.h net/mbedtls/ecp_alt.c \
    $(MBEDTLS_FLAGS)
	@echo "  MBEDTLS $$(cat $<) with net/tls_config.h (log: $(MBEDTLS_DIR)/build.log)"
	$(Q)start=$$(date +%s); \
	{ $(MAKE) -C $(MBEDTLS_DIR)/src/library clean && \
	  $(MAKE) -C $(MBEDTLS_DIR)/src/library $(MBEDTLS_O3_OBJS) CC='$(CC)' \
	      CFLAGS='-O3 $(MBEDTLS_LIB_CFLAGS)' && \
	  $(MAKE) -C $(MBEDTLS_DIR)/src lib CC='$(CC)' CFLAGS='-O2 $(MBEDTLS_LIB_CFLAGS)' && \
	  $(CC) -O3 $(MBEDTLS_LIB_CFLAGS) $(MBEDTLS_ALT_CFLAGS) -c -o $(MBEDTLS_DIR)/ecp_alt.o \
	      net/mbedtls/ecp_alt.c && \
	  ar rs $(MBEDTLS_DIR)/src/library/libmbedcrypto.a $(MBEDTLS_DIR)/ecp_alt.o; \
	} >$(MBEDTLS_DIR)/build.log 2>&1 || { tail -n 30 $(MBEDTLS_DIR)/build.log; exit 1; }; \
	echo "  MBEDTLS built in $$(( $$(date +%s) - start )) s"
	$(Q)touch $@
endif

# run, test, fuzz, bench and footprint install what they are missing, then
# build in a second make: this one read its flags from pkg-config at start,
# perhaps before pkg-config was there. The *-nodeps targets skip installing.
run: deps-build
	$(Q)$(MAKE) --no-print-directory $(RELAY_BIN)
	./$(RELAY_BIN) --dev-cert-out relay-dev-cert.pem

test: deps-test
	$(Q)$(MAKE) --no-print-directory test-nodeps

# The OpenAPI 3.1 validator that test/integration/test_openapi.py runs on
# docs/openapi.yaml, from the npm registry into build/npm at this version
# (its dependencies as its own package.json allows), once: the stamp names it.
NPM_VALIDATOR_PKG := @seriousme/openapi-schema-validator@2.11.0
NPM_VALIDATOR     := build/npm/.installed-$(subst /,-,$(NPM_VALIDATOR_PKG))
$(NPM_VALIDATOR):
	@command -v npm >/dev/null 2>&1 || \
	  { echo "relay: npm is missing: run make deps-test (or apt-get install nodejs npm)" >&2; exit 1; }
	$(call quiet,NPM,$(NPM_VALIDATOR_PKG))rm -rf build/npm && mkdir -p build/npm && \
	  npm install --prefix build/npm --save-exact --no-audit --no-fund --loglevel=error \
	    $(NPM_VALIDATOR_PKG) >build/npm.log 2>&1 || { cat build/npm.log >&2; exit 1; }
	$(Q)touch $@

# The test runner prints one line per test and the summary "N passed, M failed".
# The integration suite runs once per store in TEST_STORES: every relay over
# the memory store, then every relay over a redis-server the runner starts.
TEST_STORES ?= memory redis
test-nodeps: $(RELAY_BIN) $(UNIT_BIN) $(FUZZ_REPLAY) $(NPM_VALIDATOR)
	$(Q)CHAOS_SECONDS=$(CHAOS_SECONDS) python3 test/run.py --relay ./$(RELAY_BIN) \
	    --unit-dir $(BUILD)/test/unit $(addprefix --store ,$(TEST_STORES))

check:
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined test

# Fuzzing: clang with libFuzzer, ASan and UBSan, everything in build/fuzz/.
# Each target runs on a scratch copy of its corpus (plus the saved crashes),
# so new inputs never land in the repository; a crash fails the target and
# its input is kept under build/fuzz/artifacts/<target>/. A crash worth
# keeping goes into test/fuzz/regressions/<target>/ to be replayed by make test.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 8192
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_SRC := $(wildcard lib/*.c net/*.c storage/*.c protocol/*.c server/*.c)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) \
                $(patsubst $(LLHTTP_DIR)/%.c,$(FUZZ_BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-cc:
	@command -v $(FUZZ_CC) >/dev/null || \
	  { echo "make fuzz needs $(FUZZ_CC) and libFuzzer: run make deps"; exit 1; }

$(FUZZ_BUILD)/obj/%.o: %.c $(MBEDTLS_DEPS) | fuzz-cc
	@mkdir -p $(dir $@)
	$(call quiet,CLANG,$<)$(FUZZ_CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) -O1 $(FUZZ_SAN) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c Makefile | fuzz-cc
	@mkdir -p $(dir $@)
	$(call quiet,CLANG,$<)$(FUZZ_CC) $(LLHTTP_CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_BIN): $(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/test/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ) \
    $(MBEDTLS_DEPS)
	$(call quiet,LINK,$@)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(LIBS)

fuzz: deps-fuzz
	$(Q)$(MAKE) --no-print-directory fuzz-nodeps

fuzz-nodeps: $(FUZZ_BIN)
	$(Q)failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  work=$(FUZZ_BUILD)/corpus/$$t; art=$(FUZZ_BUILD)/artifacts/$$t; log=$(FUZZ_BUILD)/fuzz_$$t.log; \
	  mkdir -p $$work $$art; \
	  find test/fuzz/corpus/$$t test/fuzz/regressions/$$t -type f ! -name '.*' \
	    -exec cp {} $$work/ \; 2>/dev/null; \
	  dict=; [ -f test/fuzz/$$t.dict ] && dict=-dict=test/fuzz/$$t.dict; \
	  echo "  FUZZ   $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
	      -timeout=10 -print_final_stats=1 $$dict -artifact_prefix=$$art/ $$work >$$log 2>&1; then \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' $$log \
	      | sed 's/^/         /'; \
	  else \
	    tail -n 40 $$log; \
	    echo "FAIL fuzz_$$t: the crashing input is $$(ls -t $$art/* 2>/dev/null | head -n 1)"; \
	    failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzzing found crashes in:$$failed"; exit 1; fi

clean:
	rm -rf build relay relay-dev-cert.pem

# Installing: sbin and section 8, as for a daemon an administrator starts.
# The unit in contrib/ names /usr/local/sbin/relay (the default PREFIX) so
# that it can be read and checked as it is; the installed copy names SBINDIR.
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system

install: $(RELAY_BIN)
	install -d "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(MANDIR)/man8" "$(DESTDIR)$(UNITDIR)"
	install -m 0755 $(RELAY_BIN) "$(DESTDIR)$(SBINDIR)/relay"
	install -m 0644 docs/relay.8 "$(DESTDIR)$(MANDIR)/man8/relay.8"
	sed 's|/usr/local/sbin/relay|$(SBINDIR)/relay|' contrib/relay.service \
	    >"$(DESTDIR)$(UNITDIR)/relay.service.tmp"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/relay.service.tmp"
	mv -f "$(DESTDIR)$(UNITDIR)/relay.service.tmp" "$(DESTDIR)$(UNITDIR)/relay.service"

uninstall:
	rm -f "$(DESTDIR)$(SBINDIR)/relay" "$(DESTDIR)$(MANDIR)/man8/relay.8" \
	    "$(DESTDIR)$(UNITDIR)/relay.service"

# Debian packages, one set per purpose; make run installs only the first.
# Building and running: the compiler, the libraries, the system's CA
# certificates (--push-gateway, the client), bzip2 to unpack mbedTLS's
# tarball, and llhttp (below). mbedTLS is no package: see MBEDTLS above.
DEPS_BUILD := build-essential pkg-config libevent-dev libjansson-dev libhiredis-dev \
              ca-certificates bzip2
# Tests (make test, make check): sslscan for the TLS audit, openssl for test
# certificates, curl for the README walkthrough, chromium for the page a
# person sees, systemd (systemd-analyze) and strace for the service unit,
# mandoc to check the man page, nginx and haproxy to run contrib/'s proxy
# configurations, PyYAML and jsonschema to hold the relay to
# docs/openapi.yaml, Prometheus's Python client for a second reading of
# /metrics, and npm for that document's validator (NPM_VALIDATOR above)
# unless an npm is there already: NodeSource's nodejs carries its own,
# which Debian's npm package would conflict with.
DEPS_NODE  := $(if $(shell command -v npm 2>/dev/null),,nodejs npm)
DEPS_TEST  := $(DEPS_BUILD) python3 python3-yaml python3-jsonschema python3-prometheus-client \
              curl openssl sslscan chromium systemd strace mandoc nginx haproxy redis-server \
              redis-sentinel $(DEPS_NODE)
DEPS_FUZZ  := $(DEPS_BUILD) clang libclang-rt-dev
# Benchmarks: nginx under wrk, pinned with taskset and prlimit (util-linux),
# a certificate from openssl, the handshake load generator built against
# libssl-dev, sizes from size (binutils); redis-server and haproxy for the
# store scenarios (the relay over Redis, two behind HAProxy).
DEPS_BENCH := $(DEPS_BUILD) python3 nginx wrk util-linux openssl libssl-dev binutils \
              redis-server haproxy
# make bench-profile: perf.
DEPS_PROFILE := $(DEPS_BENCH) linux-perf
# Where apt-get's temporary policy-rc.d goes (the install test moves it).
POLICY_RC_D ?= /usr/sbin/policy-rc.d
# llhttp has no package name that holds on every Debian: deps.sh picks one.
LLHTTP_MISSING := $(if $(LLHTTP_SRC),$(if $(wildcard $(LLHTTP_DIR)/llhttp.c),no,yes),no)
DEPS_SH = $(Q)LLHTTP_MISSING=$(LLHTTP_MISSING) POLICY_RC_D=$(POLICY_RC_D) sh tools/deps.sh

.PHONY: deps deps-build deps-test deps-fuzz deps-bench deps-profile build-deps test-nodeps \
        fuzz-nodeps
deps:
	$(DEPS_SH) $(sort $(DEPS_TEST) $(DEPS_FUZZ) $(DEPS_PROFILE))
deps-build:
	$(DEPS_SH) $(DEPS_BUILD)
deps-test:
	$(DEPS_SH) $(DEPS_TEST)
deps-fuzz:
	$(DEPS_SH) $(DEPS_FUZZ)
deps-bench:
	$(DEPS_SH) $(DEPS_BENCH)
deps-profile:
	$(DEPS_SH) $(DEPS_PROFILE)

# Before compiling anything: one line naming what is missing, not a page of
# compiler errors. Headers are looked for the way the compiler will (all in
# one run of the preprocessor, each alone only when one is missing).
build-deps:
	$(Q)missing=; \
	has_headers() { printf '#include <%s>\n' "$$@" | $(CC) $(CPPFLAGS) $(DEP_CFLAGS) -E -x c - >/dev/null 2>&1; }; \
	if ! command -v $(CC) >/dev/null 2>&1; then missing="$$missing build-essential"; \
	elif ! has_headers event2/event.h jansson.h; then \
	  has_headers event2/event.h || missing="$$missing libevent-dev"; \
	  has_headers jansson.h || missing="$$missing libjansson-dev"; \
	fi; \
	command -v $(PKG) >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ $(MBEDTLS) = build ]; then \
	  command -v bzip2 >/dev/null 2>&1 || missing="$$missing bzip2"; \
	elif ! $(PKG) --atleast-version=3.6 mbedtls 2>/dev/null; then \
	  echo "relay: MBEDTLS=system needs mbedTLS >= 3.6 (pkg-config mbedtls), this system has" \
	      "$$($(PKG) --modversion mbedtls 2>/dev/null || echo none): build without MBEDTLS=system" >&2; \
	  exit 1; \
	fi; \
	if [ $(LLHTTP_MISSING) = yes ]; then \
	  if apt-cache show libllhttp-dev >/dev/null 2>&1; then missing="$$missing libllhttp-dev"; \
	  else missing="$$missing node-llhttp"; fi; \
	fi; \
	[ -z "$$missing" ] && exit 0; \
	set -- $$missing; verb=is; [ $$# -gt 1 ] && verb=are; \
	echo "relay: $$*" "$$verb missing: run make deps-build (or apt-get install $$*)" >&2; \
	exit 1
fuzz-cc: build-deps
# Missing llhttp sources are build-deps' to report, not make's.
$(LLHTTP_SRC): | build-deps

# Benchmarks: the relay against nginx (same certificate, same answers),
# pinned to CPU 0 with the load on CPU 1. BENCH_RUNS, BENCH_SECONDS,
# BENCH_WARMUP, BENCH_SCENARIOS... are read from the environment; see
# test/bench/README.md.
bench: deps-bench
	$(Q)$(MAKE) --no-print-directory $(RELAY_BIN)
	$(Q)python3 test/bench/bench.py

# The full-handshake scenarios (or BENCH_SCENARIOS) with the relay under
# perf record: its CPU figures are then not for comparing, its profiles are
# the point.
bench-profile: deps-profile
	$(Q)$(MAKE) --no-print-directory $(RELAY_BIN)
	$(Q)BENCH_PERF=1 BENCH_SCENARIOS="$${BENCH_SCENARIOS:-handshake12 handshake13}" \
	  python3 test/bench/bench.py

footprint: deps-bench
	$(Q)$(MAKE) --no-print-directory $(RELAY_BIN)
	$(Q)python3 test/bench/footprint.py

-include $(shell find build -path build/mbedtls -prune -o -name '*.d' -type f -print 2>/dev/null)
