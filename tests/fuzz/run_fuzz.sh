#!/bin/sh
# run_fuzz.sh TARGET SEEDS ARTIFACTS [SECONDS]: one short, bounded libFuzzer run for ctest.
# Starts from the checked-in seeds (read only: new inputs go to a temporary corpus that is
# removed afterwards) and stops after SECONDS (default 20). A crash, leak or sanitizer report
# fails the test; the input that caused it is kept in ARTIFACTS for reproduction:
#   TARGET ARTIFACTS/crash-...
set -eu
target=$1
seeds=$2
artifacts=$3
secs=${4:-20}
work=$(mktemp -d "${TMPDIR:-/tmp}/clove-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$artifacts" "$work/corpus"
exec "$target" -max_total_time="$secs" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work/corpus" "$seeds"
