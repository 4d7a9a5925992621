# Two entry points on a fresh machine (README): `make demo` and `make test`.
# Both first run the idempotent bootstrap (installs only what is missing).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:/usr/local/bin:$(PATH)
export MIX_HOME ?= $(HOME)/.mix
export LC_ALL := C.UTF-8
export ELIXIR_ERL_OPTIONS ?= +fnu

.PHONY: bootstrap demo test check-rust check-elixir dialyzer mix-test clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@mix compile
	@mix run scripts/demo.exs

test: bootstrap check-rust check-elixir dialyzer mix-test

check-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo test --workspace --locked

check-elixir:
	mix format --check-formatted
	MIX_ENV=test mix compile --force --warnings-as-errors

dialyzer:
	@bash scripts/dialyzer.sh

mix-test:
	mix test

clean:
	mix clean
	cargo clean
