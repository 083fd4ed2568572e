# cryptofilter - S/MIME and TLS-policy gateway for Postfix.
#
#   make            build everything into build/
#   make test       install missing packages, build, run every test suite
#   make run        start the demo gateway on 127.0.0.1 (Ctrl-C stops it)
#   make bench      benchmarks (BENCH_QUICK=1 for a short run)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
DESTDIR	?=
SBINDIR	 = $(PREFIX)/sbin
MANDIR	 = $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system

BUILD	?= build
CC	?= cc
OPT	?= -O2 -g
WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual -fno-common -Werror
CFLAGS	?= $(OPT)
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Icommon -MMD -MP
LDFLAGS	?=
LIBS	 = -lconfuse -lssl -lcrypto
MILTER_LIBS = -lmilter -lpthread

COMMON_SRC = $(sort $(wildcard common/*.c))
MILTER_SRC = $(sort $(wildcard milter/*.c))
POLICYD_SRC = $(sort $(wildcard policyd/*.c))
TOOLS_SRC  = $(sort $(wildcard tools/*.c))
UNIT_SRC   = $(sort $(wildcard t/unit/test_*.c))
FUZZ_SRC   = $(sort $(wildcard t/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB	 = $(BUILD)/libcryptofilter.a
MILTER	 = $(BUILD)/cryptofilter-milter
POLICYD	 = $(BUILD)/cryptofilter-policyd
TOOL	 = $(BUILD)/cryptofilter
UNIT_BIN = $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))

.PHONY: all deps unit test test-unit test-scripts asan clang fuzz fuzz-quick bench run install clean

all: $(LIB) $(MILTER) $(POLICYD) $(TOOL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(MILTER): $(call obj,$(MILTER_SRC)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(MILTER_LIBS)

$(POLICYD): $(call obj,$(POLICYD_SRC)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(TOOL): $(call obj,$(TOOLS_SRC)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/unit/%: $(BUILD)/t/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

unit: $(UNIT_BIN)

# Every cmocka binary, then a summary line.  Tests find their data via
# CF_SRCDIR and write only under CF_TMPDIR.
test-unit: unit
	@t/run-unit $(UNIT_BIN)

deps:
	@tools/install-deps.sh

# Shell-driven suites: milter (miltertest), policyd protocol, e2e with a real
# Postfix, interop with openssl cms / gpgsm.  Each script exits 0 pass,
# 77 skip, anything else fail.
test-scripts: all
	@t/run-scripts t/tools t/policyd t/milter t/interop t/e2e

# The same warnings must hold with clang (build only, into build/clang).
clang:
	$(MAKE) BUILD=build/clang CC=clang all unit

# The unit tests under ASan/UBSan, then the hostile-input suites of the
# daemons and of the engine against sanitized binaries (t/interop/hostile.sh
# finds build/asan/cryptofilter itself).
asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" test-unit \
		build/asan/cryptofilter build/asan/cryptofilter-milter build/asan/cryptofilter-policyd
	MILTER=$(CURDIR)/build/asan/cryptofilter-milter POLICYD=$(CURDIR)/build/asan/cryptofilter-policyd \
		t/run-scripts t/milter/hostile.sh t/milter/errors.sh t/policyd/hostile.sh t/policyd/decisions.sh

# libFuzzer targets: every t/fuzz/fuzz_*.c links against the common sources
# built with clang.  fuzz-quick runs each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 10
FUZZ_BIN = $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Icommon
$(BUILD)/fuzz/%: t/fuzz/%.c $(COMMON_SRC) $(wildcard common/*.h policyd/*.c policyd/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(COMMON_SRC) $(LIBS)

fuzz: $(FUZZ_BIN)

fuzz-quick: $(FUZZ_BIN)
	@t/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BIN)

test: deps
	$(MAKE) all
	$(MAKE) clang
	$(MAKE) test-unit
	$(MAKE) asan
	$(MAKE) fuzz-quick
	$(MAKE) test-scripts

bench: all
	@t/run-bench t/bench

run: deps all
	@postfix-example/demo.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(MILTER) $(POLICYD) $(TOOL) $(DESTDIR)$(SBINDIR)/
	install -m 644 milter/cryptofilter-milter.8 policyd/cryptofilter-policyd.8 \
		tools/cryptofilter.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 etc/cryptofilter.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 etc/cryptofilter.conf $(DESTDIR)$(SYSCONFDIR)/cryptofilter.conf.sample
	install -m 644 etc/cryptofilter-milter.service etc/cryptofilter-policyd.service \
		$(DESTDIR)$(UNITDIR)/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
