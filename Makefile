# SecureChat. `make check` and `make demo` do all the set-up a fresh Debian 12 machine needs.
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
# The toolchain lives in /opt/swift on our machines; put it on PATH if it is not there yet.
export PATH := $(PATH):/opt/swift/usr/bin
RELEASE_FLAGS = -c release --static-swift-stdlib
TOOLS = sc-keygen sc-seal sc-open sc-handshake sc-logcheck
# Installed as they are, from bin/.
SCRIPTS = sc-chat sc-inbox
BINDIR = $(PREFIX)/bin
# What sc-chat sources (lib/securechat/*.bash), found from bin/ as ../lib/securechat.
LIBRARIES = $(notdir $(wildcard lib/securechat/*.bash))
LIBDIR = $(PREFIX)/lib/securechat
MANDIR = $(PREFIX)/share/man
BASH_COMPLETION_DIR = $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETION_DIR = $(PREFIX)/share/zsh/site-functions
FISH_COMPLETION_DIR = $(PREFIX)/share/fish/vendor_completions.d
# systemd units of the inbox service (contrib/systemd): installed, never enabled.
SYSTEMD_UNIT_DIR = $(PREFIX)/lib/systemd/system
MAN1 = $(notdir $(wildcard man/*.1))
MAN7 = $(notdir $(wildcard man/*.7))
BASH_COMPLETIONS = $(notdir $(wildcard completions/bash/*))
ZSH_COMPLETIONS = $(notdir $(wildcard completions/zsh/_*))
FISH_COMPLETIONS = $(notdir $(wildcard completions/fish/*.fish))
SYSTEMD_UNITS = $(notdir $(wildcard contrib/systemd/*.socket contrib/systemd/*.service))

.PHONY: all deps build check check-asan fuzz soak test demo bench install uninstall format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE_FLAGS)

# Unit tests, test vectors, end-to-end tests of the built tools, man page and shell lint.
check: deps
	scripts/check.sh

# The whole test suite with the tools and tests built under AddressSanitizer. Leak reports are
# off: XCTest keeps its test-case objects alive to the end, which LeakSanitizer reports.
check-asan: deps
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan --disable-swift-testing

# libFuzzer targets for every parser (docs/TESTING.md), FUZZ_SECONDS each (default 60); fails
# if any crashed, the inputs kept in .build-fuzz/runs/crashes/.
fuzz: deps
	scripts/fuzz.sh

# The long runs: the hostile relay with SOAK_RUNS (100,000) mutated sessions and the load test
# with LOAD_SESSIONS (200) sessions of LOAD_MESSAGES (10,000) messages each way; see scripts/soak.sh.
soak: deps
	scripts/soak.sh

demo: build
	scripts/demo.sh "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"

# Every benchmark script in turn, each printing its figures; they also append them to a CSV
# (scripts/bench-record.sh) that starts with the machine's description and becomes
# bench/results.csv once all have run, drawn by gnuplot in bench/results.svg. Fails, leaving the
# previous results, if any script fails.
bench: build
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	csv="$(CURDIR)/bench/results.csv.tmp"; \
	mkdir -p bench && . scripts/bench-record.sh && bench_init "$$csv" "$$bin" && export BENCH_CSV="$$csv" && \
	scripts/bench.sh "$$bin" && scripts/bench-session.sh "$$bin" && scripts/bench-log.sh "$$bin" && \
	  scripts/bench-chat.sh "$$bin" && scripts/bench-handshake.sh "$$bin" && scripts/bench-identity.sh "$$bin" && \
	  scripts/bench-recipients.sh "$$bin" && scripts/bench-public-log.sh "$$bin" && \
	  mv -f "$$csv" bench/results.csv && scripts/bench-plot.sh bench/results.csv bench/results.svg || { \
	    rm -f "$$csv"; exit 1; }

# Binaries, sc-chat, sc-inbox, what sc-chat sources, man pages, shell completions (whatever is in
# completions/) and the systemd units of the inbox service (ExecStart= pointed at $(BINDIR); not
# enabled), each where its consumer looks for it; uninstall removes exactly those files and
# leaves the directories.
install: build
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man7"; \
	for tool in $(TOOLS); do install -m 0755 "$$bin/$$tool" "$(DESTDIR)$(BINDIR)/$$tool" || exit; done
	for script in $(SCRIPTS); do install -m 0755 "bin/$$script" "$(DESTDIR)$(BINDIR)/$$script" || exit; done
	$(if $(LIBRARIES),install -d "$(DESTDIR)$(LIBDIR)")
	for file in $(LIBRARIES); do install -m 0644 "lib/securechat/$$file" "$(DESTDIR)$(LIBDIR)/$$file" || exit; done
	for page in $(MAN1); do install -m 0644 "man/$$page" "$(DESTDIR)$(MANDIR)/man1/$$page" || exit; done
	for page in $(MAN7); do install -m 0644 "man/$$page" "$(DESTDIR)$(MANDIR)/man7/$$page" || exit; done
	$(if $(BASH_COMPLETIONS),install -d "$(DESTDIR)$(BASH_COMPLETION_DIR)")
	for file in $(BASH_COMPLETIONS); do install -m 0644 "completions/bash/$$file" "$(DESTDIR)$(BASH_COMPLETION_DIR)/$$file" || exit; done
	$(if $(ZSH_COMPLETIONS),install -d "$(DESTDIR)$(ZSH_COMPLETION_DIR)")
	for file in $(ZSH_COMPLETIONS); do install -m 0644 "completions/zsh/$$file" "$(DESTDIR)$(ZSH_COMPLETION_DIR)/$$file" || exit; done
	$(if $(FISH_COMPLETIONS),install -d "$(DESTDIR)$(FISH_COMPLETION_DIR)")
	for file in $(FISH_COMPLETIONS); do install -m 0644 "completions/fish/$$file" "$(DESTDIR)$(FISH_COMPLETION_DIR)/$$file" || exit; done
	$(if $(SYSTEMD_UNITS),install -d "$(DESTDIR)$(SYSTEMD_UNIT_DIR)")
	for unit in $(SYSTEMD_UNITS); do \
	  sed 's|@BINDIR@|$(BINDIR)|g' "contrib/systemd/$$unit" >"$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$unit" && \
	  chmod 0644 "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$unit" || exit; \
	done

uninstall:
	for tool in $(TOOLS) $(SCRIPTS); do rm -f "$(DESTDIR)$(BINDIR)/$$tool"; done
	for file in $(LIBRARIES); do rm -f "$(DESTDIR)$(LIBDIR)/$$file"; done
	for page in $(MAN1); do rm -f "$(DESTDIR)$(MANDIR)/man1/$$page"; done
	for page in $(MAN7); do rm -f "$(DESTDIR)$(MANDIR)/man7/$$page"; done
	for file in $(BASH_COMPLETIONS); do rm -f "$(DESTDIR)$(BASH_COMPLETION_DIR)/$$file"; done
	for file in $(ZSH_COMPLETIONS); do rm -f "$(DESTDIR)$(ZSH_COMPLETION_DIR)/$$file"; done
	for file in $(FISH_COMPLETIONS); do rm -f "$(DESTDIR)$(FISH_COMPLETION_DIR)/$$file"; done
	for unit in $(SYSTEMD_UNITS); do rm -f "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$unit"; done

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build
