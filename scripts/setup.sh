#!/usr/bin/env bash
# Installs everything clove needs to build, test and run on Debian 12, as root.
# Idempotent: a second run checks stamps and checksums and returns in seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/deps"
STAMP="$DEPS/.setup-stamp"

APT_PACKAGES=(
    build-essential cmake pkg-config git ca-certificates curl
    libyaml-dev libmicrohttpd-dev libjansson-dev
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
    libssl-dev libcurl4-openssl-dev libpq-dev libsqlite3-dev
    libcmocka-dev libedit-dev clang libclang-rt-14-dev
    postgresql postgresql-client python3 nodejs npm
)

DUCKDB_LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
DUCKDB_LIB_SHA="732fac4dc6b8f198870b9c4bb6ddf13544466daca00ad28ba2f1d80de5d7aa4b"
DUCKDB_HDR_PKG="duckdb@1.4.4"
DUCKDB_HDR_SHA="5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed"

log() { printf 'setup: %s\n' "$*" >&2; }

need_sudo() {
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then echo sudo; else
            log "not root and no sudo: install as root: ${APT_PACKAGES[*]}"; exit 1; fi
    fi
}

install_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        # nodejs/npm may come from elsewhere on the image; accept working commands
        case "$p" in
            nodejs) command -v node >/dev/null 2>&1 && continue ;;
            npm) command -v npm >/dev/null 2>&1 && continue ;;
            python3) command -v python3 >/dev/null 2>&1 && continue ;;
        esac
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
    local SUDO; SUDO="$(need_sudo)"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# fetch_npm PKG SHA DEST: npm pack PKG into DEST, verify the tarball's sha256.
fetch_npm() {
    local pkg="$1" sha="$2" dest="$3" tgz
    mkdir -p "$dest"
    tgz="$(cd "$dest" && npm pack --silent "$pkg" 2>/dev/null | tail -n1)"
    if [ -z "$tgz" ] || [ ! -f "$dest/$tgz" ]; then log "could not download $pkg from the npm registry"; exit 1; fi
    local got; got="$(sha256sum "$dest/$tgz" | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
        rm -f "$dest/$tgz"
        log "checksum mismatch for $pkg: expected $sha, got $got; refusing it"; exit 1
    fi
    echo "$dest/$tgz"
}

install_duckdb() {
    local d="$DEPS/duckdb"
    if [ -f "$d/lib/libduckdb.so" ] && [ -f "$d/include/duckdb.h" ] && \
       [ "$(cat "$d/.version" 2>/dev/null)" = "$DUCKDB_LIB_SHA $DUCKDB_HDR_SHA" ]; then return 0; fi
    log "fetching DuckDB 1.4.4 from the npm registry"
    rm -rf "$d" && mkdir -p "$d/lib" "$d/include" "$DEPS/tmp"
    local t
    t="$(fetch_npm "$DUCKDB_LIB_PKG" "$DUCKDB_LIB_SHA" "$DEPS/tmp")"
    tar -xzf "$t" -C "$DEPS/tmp" package/libduckdb.so
    mv "$DEPS/tmp/package/libduckdb.so" "$d/lib/libduckdb.so"
    t="$(fetch_npm "$DUCKDB_HDR_PKG" "$DUCKDB_HDR_SHA" "$DEPS/tmp")"
    tar -xzf "$t" -C "$DEPS/tmp" package/src/duckdb/src/include/duckdb.h
    mv "$DEPS/tmp/package/src/duckdb/src/include/duckdb.h" "$d/include/duckdb.h"
    rm -rf "$DEPS/tmp"
    echo "$DUCKDB_LIB_SHA $DUCKDB_HDR_SHA" > "$d/.version"
}

install_npm_peers() {
    # test peers pinned by a package-lock.json each, installed into their node_modules
    # (git-ignored): the independent clients of the Flight conformance tests (tests/flight)
    # and s3rver, the S3 API the S3 connector tests and benchmark run against (tests/s3)
    local d want
    for d in "$ROOT/tests/flight" "$ROOT/tests/s3"; do
        [ -f "$d/package-lock.json" ] || continue
        want="$(sha256sum < "$d/package-lock.json" | cut -d' ' -f1)"
        if [ -f "$d/node_modules/.clove-stamp" ] && [ "$(cat "$d/node_modules/.clove-stamp")" = "$want" ]; then
            continue
        fi
        log "installing npm test peers (${d#"$ROOT"/})"
        (cd "$d" && npm ci --silent --no-audit --no-fund >/dev/null)
        echo "$want" > "$d/node_modules/.clove-stamp"
    done
}

mkdir -p "$DEPS"
install_apt
install_duckdb
install_npm_peers
touch "$STAMP"
