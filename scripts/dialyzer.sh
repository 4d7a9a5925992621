#!/usr/bin/env bash
# Dialyzer over Linx's compiled beams (test build: lib + test/support), with zero warnings
# allowed. Uses Debian's erlang-dialyzer; the PLT (erts, kernel, stdlib, compiler,
# elixir, mix, logger, ex_unit) is kept outside the checkout and built once (~1-2 min).
set -euo pipefail
cd "$(dirname "$0")/.."

elixir_lib=$(elixir -e 'IO.write(:code.lib_dir(:elixir))')
elixir_root=$(dirname "$elixir_lib")
elixir_vsn=$(elixir -e 'IO.write(System.version())')
otp=$(erl -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().')
cache=${XDG_CACHE_HOME:-$HOME/.cache}/linx
plt="$cache/dialyzer-otp${otp}-elixir${elixir_vsn}.plt"
mkdir -p "$cache"

paths=()
for app in elixir mix logger ex_unit; do paths+=("$elixir_root/$app/ebin"); done
pa=()
for p in "${paths[@]}"; do pa+=(-pa "$p"); done

if [ ! -f "$plt" ]; then
  echo "dialyzer: building PLT $plt (once)"
  # Exit status 2 means "warnings found" (in OTP's own code): the PLT is still good.
  rc=0
  dialyzer --build_plt --output_plt "$plt.tmp" "${pa[@]}" --apps erts kernel stdlib compiler crypto \
    -r "${paths[@]}" >"$cache/plt-build.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    tail -20 "$cache/plt-build.log"
    echo "dialyzer: PLT build failed (exit $rc)" >&2
    exit 1
  fi
  mv "$plt.tmp" "$plt"
fi

MIX_ENV=test mix compile >/dev/null
dialyzer --no_check_plt --plt "$plt" "${pa[@]}" \
  -Wunmatched_returns \
  _build/test/lib/linx/ebin
