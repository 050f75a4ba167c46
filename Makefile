# netlab — see README.md. Every target works on a fresh Debian 12 machine (run as root for
# the namespace tests, interop and the demo; unprivileged runs skip those with a reason).
CARGO   ?= cargo
PREFIX  ?= /usr/local
BIN      = target/release/netlab
DEBUG_BIN = target/debug/netlab

.PHONY: build test lint interop bench docs install demo clean deps

build:
	$(CARGO) build --locked --release

# All tests: unit, loopback integration, JSON contract, docs drift, namespace tests (root).
test: deps
	$(CARGO) test --locked -- --test-threads=2

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps

# Peer comparisons on the namespace lab: tshark / tcpdump vs netlab (root).
interop: deps build
	python3 tests/interop/interop.py --netlab $(BIN)
	python3 tests/interop/dns_interop.py --netlab $(BIN)
	python3 tests/interop/arp_interop.py --netlab $(BIN)
	python3 tests/interop/sockets_interop.py --netlab $(BIN)
	python3 tests/interop/tls_interop.py --netlab $(BIN)
	python3 tests/interop/syscalls_interop.py --netlab $(BIN)

# Benchmarks: netlab vs hping3 / nping per-probe error against the wire; start-up time.
bench: deps build
	python3 tests/interop/bench.py --netlab $(BIN)
	python3 tests/interop/dns_bench.py --netlab $(BIN)
	python3 tests/interop/arp_bench.py --netlab $(BIN)
	python3 tests/interop/sockets_bench.py --netlab $(BIN)
	python3 tests/interop/tls_bench.py --netlab $(BIN)
	python3 tests/interop/syscalls_bench.py --netlab $(BIN)

# Regenerate man/ and completions/ from the clap definitions.
docs:
	$(CARGO) run --locked --quiet -- generate --out-dir .

install: build
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/netlab
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -Dm644 completions/netlab.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/netlab
	install -Dm644 completions/_netlab $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_netlab
	install -Dm644 completions/netlab.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/netlab.fish

# Build, start the lab, run the headline commands against it, stop it.
demo: deps build
	bash tests/demo.sh $(BIN)

# Debian packages the tests, interop and demo use (root).
deps:
	bash .ci/deps

clean:
	$(CARGO) clean
