#!/usr/bin/env bash
# The tree's habits, checked: rustfmt (rustfmt.toml) and shellcheck over every shell
# script of the tree (by extension or shebang). Scripts under lab/guest run inside the
# lab's busybox/dash guest and are checked as dash, as lab/ci.sh does.
# Usage: scripts/lint.sh   (prints "N passed, M failed", exits non-zero on any failure)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

passed=0 failed=0
step() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}

rustup component add rustfmt >/dev/null 2>&1 || true
step "cargo fmt --check" cargo fmt --check

command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
scripts=() guest=()
while IFS= read -r f; do
    [ -f "$f" ] || continue
    case $f in
    lab/guest/*.sh | lab/guest/init | *.sh) ;;
    lab/guest/*) continue ;;
    *) head -n1 "$f" | grep -qE '^#!.*/(env )?(ba|da|a)?sh( |$)|^#!/bin/sh ' || continue ;;
    esac
    case $f in lab/guest/*) guest+=("${f#lab/guest/}") ;; *) scripts+=("$f") ;; esac
done < <(git ls-files 2>/dev/null || find . -type f -not -path './target/*' -not -path './.git/*' | sed 's|^\./||')
step "shellcheck: ${#scripts[@]} scripts" shellcheck -x "${scripts[@]}"
step "shellcheck (dash): ${#guest[@]} lab guest scripts" \
    sh -c 'cd lab/guest && shellcheck -x -s dash -e SC2034 "$@"' sh "${guest[@]}"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
