# relay — one GNU Makefile, read top to bottom.
#
#   make deps     install missing Debian packages (apt-get; no-op when present)
#   make          build ./relay
#   make run      build and start a development relay on https://localhost:8443
#   make test     unit + integration tests, ending in "N passed, M failed"
#   make check    the same tests with AddressSanitizer + UBSan
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
ifeq ($(shell $(PKG) --exists libllhttp 2>/dev/null && echo yes),yes)
LLHTTP_CFLAGS := $(shell $(PKG) --cflags libllhttp)
LLHTTP_LIBS   := $(shell $(PKG) --libs libllhttp)
LLHTTP_SRC    :=
else
LLHTTP_DIR    ?= /usr/share/llhttp
LLHTTP_CFLAGS := -I/usr/share/include/llhttp
LLHTTP_LIBS   :=
LLHTTP_SRC    := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c
endif

DEP_CFLAGS := $(shell $(PKG) --cflags libevent jansson 2>/dev/null) $(LLHTTP_CFLAGS)
LIBS       := $(shell $(PKG) --libs libevent jansson 2>/dev/null) $(LLHTTP_LIBS) \
              -lmbedtls -lmbedx509 -lmbedcrypto

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
MODULE_SRC := $(filter-out server/main.c,$(wildcard storage/*.c protocol/*.c server/*.c client/*.c))
MODULE_OBJ := $(MODULE_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/llhttp/%.o,$(LLHTTP_SRC))
LIBRELAY   := $(BUILD)/librelay.a
UNIT_SRC   := $(wildcard test/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:%.c=$(BUILD)/%)

ifdef SANITIZE
RELAY_BIN := $(BUILD)/relay
else
RELAY_BIN := relay
endif

.PHONY: all run test check unit integration clean deps
all: $(RELAY_BIN)

$(RELAY_BIN): $(BUILD)/server/main.o $(LIBRELAY)
	$(call quiet,LINK,$@)$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

$(LIBRELAY): $(MODULE_OBJ) $(LLHTTP_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) $(SANFLAGS) -c -o $@ $<

$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(LLHTTP_CFLAGS) -O2 -g $(SANFLAGS) -c -o $@ $<

$(BUILD)/test/unit/%: test/unit/%.c $(LIBRELAY)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(DEP_CFLAGS) $(ALL_CFLAGS) $(SANFLAGS) -o $@ $< $(LIBRELAY) $(LIBS)

run: $(RELAY_BIN)
	./$(RELAY_BIN) --dev-cert-out relay-dev-cert.pem

# The test runner prints one line per test and the summary "N passed, M failed".
test: $(RELAY_BIN) $(UNIT_BIN)
	$(Q)python3 test/run.py --relay ./$(RELAY_BIN) --unit-dir $(BUILD)/test/unit

check:
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined test

clean:
	rm -rf build relay relay-dev-cert.pem

# Debian packages the build, the tests and the benchmarks need.
DEBIAN_PKGS := build-essential pkg-config libevent-dev libmbedtls-dev libjansson-dev \
               curl python3 ca-certificates sslscan
deps:
	$(Q)missing=""; \
	for p in $(DEBIAN_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	need_llhttp=no; \
	$(PKG) --exists libllhttp 2>/dev/null || [ -f /usr/share/llhttp/llhttp.c ] || need_llhttp=yes; \
	[ -z "$$missing" ] && [ $$need_llhttp = no ] && exit 0; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	$$sudo apt-get update -qq || exit 1; \
	if [ $$need_llhttp = yes ]; then \
	  if apt-cache show libllhttp-dev >/dev/null 2>&1; then missing="$$missing libllhttp-dev"; \
	  else missing="$$missing node-llhttp"; fi; \
	fi; \
	echo "installing:$$missing"; \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

-include $(shell find build -name '*.d' 2>/dev/null)
