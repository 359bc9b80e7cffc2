#!/usr/bin/env bash
# Fuzzes the C fast path with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer: the packet-in parser and the P4Runtime Write
# decoder for half of SECONDS each, the path engine, the Write encoder and the
# quiet filter with proxy ARP answers (and fp_rows) for a third (at least 5 s each). Everything goes to ext/fuzz/out/ (the corpus grows across runs; crashes
# land in out/crashes/).
#   ext/fuzz/run.sh [SECONDS]     default 30
# Exits 0 when nothing was found, 1 on a finding or a build error, and 77 (with
# the reason on stdout) when clang or its libFuzzer runtime is missing
# (Debian 12: apt-get install clang libclang-rt-14-dev).
set -euo pipefail

secs="${1:-30}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ext="$(dirname "$here")"
out="$here/out"
cc="${CC:-clang}"
python="${PYTHON:-python3}"

skip() { echo "SKIP: $*"; exit 77; }

command -v "$cc" >/dev/null || skip "$cc not found (Debian: apt-get install clang libclang-rt-14-dev)"
mkdir -p "$out/bin" "$out/crashes" "$out/corpus/parse" "$out/corpus/paths" "$out/corpus/p4rt" \
    "$out/corpus/p4rt_enc" "$out/corpus/quiet"

flags=(-g -O1 -std=c11 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fsanitize=implicit-conversion -fno-sanitize-recover=all -I"$ext")

# A harness that does nothing: if this does not link, the libFuzzer runtime is missing.
probe="$out/bin/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe"
if ! "$cc" "${flags[@]}" "$probe" -o "$out/bin/probe" 2>"$out/bin/probe.log"; then
    skip "$cc cannot link libFuzzer with sanitizers (Debian: apt-get install libclang-rt-14-dev): $(head -c 300 "$out/bin/probe.log")"
fi

"$cc" "${flags[@]}" "$ext/fp_parse.c" "$here/fuzz_parse.c" -o "$out/bin/fuzz_parse"
"$cc" "${flags[@]}" "$ext/fp_paths.c" "$here/fuzz_paths.c" -o "$out/bin/fuzz_paths"
"$cc" "${flags[@]}" "$ext/fp_p4rt.c" "$ext/fp_p4rt_check.c" "$here/fuzz_p4rt.c" \
    -o "$out/bin/fuzz_p4rt"
"$cc" "${flags[@]}" "$ext/fp_p4rt_enc.c" "$ext/fp_p4rt.c" "$ext/fp_p4rt_check.c" \
    "$here/fuzz_p4rt_enc.c" -o "$out/bin/fuzz_p4rt_enc"
"$cc" "${flags[@]}" "$ext/fp_parse.c" "$ext/fp_punt.c" "$here/fuzz_quiet.c" \
    -o "$out/bin/fuzz_quiet"

if "$python" "$here/seeds.py" "$out/corpus/parse" 2>/dev/null; then
    :
else
    echo "note: no seed frames ($python could not run seeds.py); starting from the dictionary"
fi
if ! "$python" "$here/seeds_p4rt.py" "$out/corpus/p4rt" 2>/dev/null; then
    echo "note: no seed requests ($python could not run seeds_p4rt.py); starting from the dictionary"
fi
if ! "$python" "$here/seeds_quiet.py" "$out/corpus/quiet" 2>/dev/null; then
    echo "note: no seed batches ($python could not run seeds_quiet.py); starting from the dictionary"
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crashes/")

status=0
run() {
    local name="$1" seconds="$2"
    shift 2
    echo "== $name: ${seconds}s"
    if ! "$out/bin/$name" "${common[@]}" -max_total_time="$seconds" "$@" \
            "$out/corpus/${name#fuzz_}" >"$out/$name.log" 2>&1; then
        status=1
        echo "FINDING in $name: see $out/$name.log and $out/crashes/"
        grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$out/$name.log" | head -20 || true
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
        "$out/$name.log" | sed "s/^/   /" || true
}

at_least_5() { echo $(( $1 > 5 ? $1 : 5 )); }
run fuzz_parse "$(at_least_5 $(( secs / 2 )))" -dict="$here/parse.dict" -max_len=2048
run fuzz_p4rt "$(at_least_5 $(( secs / 2 )))" -dict="$here/p4rt.dict" -max_len=4096
run fuzz_paths "$(at_least_5 $(( secs / 3 )))" -max_len=512
run fuzz_p4rt_enc "$(at_least_5 $(( secs / 3 )))" -max_len=1024
run fuzz_quiet "$(at_least_5 $(( secs / 3 )))" -dict="$here/parse.dict" -max_len=2048

if ((status == 0)); then
    echo "fuzz: no finding"
fi
exit "$status"
