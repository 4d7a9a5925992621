#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: installs only what is missing.
#   - Debian packages: Erlang/OTP 25 (+ dev headers, dialyzer), iproute2, nftables, and the
#     tools the test suite and benchmarks drive (tmux, python3-seccomp, bubblewrap, strace).
#   - Elixir >= 1.15: when absent or older, builds 1.18.3 from the source tarball that the
#     Debian archive serves, verified by sha256, into /usr/local.
# A second run finds everything present and returns in well under 5 s.
set -euo pipefail

ELIXIR_VERSION=1.18.3
ELIXIR_TARBALL="elixir-lang_${ELIXIR_VERSION}.dfsg.orig.tar.xz"
ELIXIR_SHA256=3620a200199328950e309ab1994c014311ee46440d8692a331ad6509edce582f
DEB_PACKAGES=(erlang-nox erlang-dev erlang-dialyzer iproute2 nftables tmux python3-seccomp
  bubblewrap strace procps iputils-ping xz-utils curl ca-certificates make)

log() { printf 'bootstrap: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "this step needs root (apt-get / install into /usr/local): $*"
    exit 1
  fi
}

missing_packages() {
  local p
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  need_root "apt-get install $missing"
  log "installing Debian packages: $(echo $missing)"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Prints "major.minor" of the elixir on PATH, or nothing.
elixir_version() {
  command -v elixir >/dev/null 2>&1 || return 0
  elixir --version 2>/dev/null | sed -n 's/^Elixir \([0-9]*\.[0-9]*\).*/\1/p' | head -1
}

elixir_ok() {
  local v
  v=$(elixir_version)
  [ -n "$v" ] || return 1
  local major=${v%%.*} minor=${v#*.}
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 15 ]; }
}

# The archive base URI apt already uses; we never hard-code a mirror host.
debian_archive_uri() {
  local f uri=""
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "no Debian archive URI found in /etc/apt"; exit 1; }
  printf '%s\n' "${uri%/}"
}

install_elixir() {
  elixir_ok && return 0
  need_root "build Elixir ${ELIXIR_VERSION} into /usr/local"
  local work url
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  url="$(debian_archive_uri)/pool/main/e/elixir-lang/${ELIXIR_TARBALL}"
  log "building Elixir ${ELIXIR_VERSION} from the Debian source tarball (about a minute)"
  curl -fsSL --retry 3 -o "$work/$ELIXIR_TARBALL" "$url"
  echo "${ELIXIR_SHA256}  $work/$ELIXIR_TARBALL" | sha256sum -c --quiet -
  tar -xf "$work/$ELIXIR_TARBALL" -C "$work"
  local src
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
  make -C "$src" compile >/dev/null
  make -C "$src" install PREFIX=/usr/local >/dev/null
  hash -r
  elixir_ok || { log "Elixir install did not produce a usable elixir"; exit 1; }
}

check_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || {
    log "cargo not found: install a Rust toolchain (rustup) first"
    exit 1
  }
}

install_packages
install_elixir
check_cargo
