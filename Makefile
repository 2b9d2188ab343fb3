# SecureChat. `make check` and `make demo` do all the set-up a fresh Debian 12 machine needs.
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
# The toolchain lives in /opt/swift on our machines; put it on PATH if it is not there yet.
export PATH := $(PATH):/opt/swift/usr/bin
RELEASE_FLAGS = -c release --static-swift-stdlib
TOOLS = sc-keygen sc-seal sc-open sc-handshake sc-logcheck

.PHONY: all deps build check check-asan test demo bench install uninstall format clean

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

demo: build
	scripts/demo.sh "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"

bench: build
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	scripts/bench.sh "$$bin" && scripts/bench-session.sh "$$bin" && scripts/bench-log.sh "$$bin"

install: build
	bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1"; \
	for tool in $(TOOLS); do install -m 0755 "$$bin/$$tool" "$(DESTDIR)$(PREFIX)/bin/$$tool"; done; \
	for page in man/*.1; do install -m 0644 "$$page" "$(DESTDIR)$(PREFIX)/share/man/man1/"; done

uninstall:
	for tool in $(TOOLS); do rm -f "$(DESTDIR)$(PREFIX)/bin/$$tool"; done
	for page in man/*.1; do rm -f "$(DESTDIR)$(PREFIX)/share/man/man1/$${page#man/}"; done

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build
