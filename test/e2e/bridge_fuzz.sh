#!/usr/bin/env bash
# libFuzzer over the bridge's parsers (client frames, tokens, JSON escaping),
# starting from the checked-in corpus, for BRIDGE_FUZZ_SECONDS (default 30).
# Any crash, sanitizer report or violated assertion fails the suite and
# leaves the reproducer in bridge/fuzz/.
source "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/../../bridge"

make -s fuzz >/dev/null
work=fuzz/corpus-work
mkdir -p "$work"
secs=${BRIDGE_FUZZ_SECONDS:-30}
log=$(mktemp)
if ! ./fuzz-frames -max_total_time="$secs" -max_len=8192 -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix=fuzz/ "$work" fuzz/corpus >"$log" 2>&1; then
	tail -n 60 "$log"
	fail "fuzzer found a crash (see bridge/fuzz/crash-* or leak-*)"
fi
note "$(grep -E '^Done [0-9]+ runs' "$log" || tail -n 1 "$log")"
rm -f "$log"
