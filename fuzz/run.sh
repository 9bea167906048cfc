#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time, from the seed
# corpus in fuzz/corpus/<target>/. Any crash, failed assertion, leak, input
# slower than 10 s or memory blow-up fails the run and leaves the input in
# fuzz/artifacts/<target>/ (reproduce with `cargo +nightly fuzz run <target>
# <file>`).
#
#   bash fuzz/run.sh                    # every target, 30 s each
#   FUZZ_SECONDS=300 bash fuzz/run.sh   # longer
#   bash fuzz/run.sh envelope otlp      # some targets
#
# Needs a nightly toolchain (sanitizers); installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, got '$seconds'" >&2
    exit 2
fi
all_targets=(envelope otlp otlp_proto otlp_assembly gzip sse_feed keymap theme runbook)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all_targets[@]}")
fi

# A missing nightly must fail the run: skipping would pass CI having
# fuzzed nothing.
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: ERROR: no nightly toolchain (cargo +nightly fails)." >&2
    echo "fuzz: cargo-fuzz needs nightly for its sanitizers: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "fuzz: $(cargo +nightly --version), $(cargo fuzz --version)"

# The bundled SQLite is linked into every target (it is part of the crate)
# though no target reaches it, and its C globals trip AddressSanitizer's
# one-definition-rule check before the first input runs.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

start=$(date +%s)
echo "fuzz: building ${targets[*]} (release, debug assertions, AddressSanitizer)"
if [ $# -eq 0 ]; then
    cargo +nightly fuzz build
else
    for t in "${targets[@]}"; do
        cargo +nightly fuzz build "$t"
    done
fi
built=$(date +%s)
echo "fuzz: built in $((built - start)) s"

logs=fuzz/target/logs
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    # New inputs the fuzzer finds go to a working corpus under target/;
    # the committed seeds are only read.
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/artifacts/$t"
    echo "fuzz: $t for $seconds s"
    t0=$(date +%s)
    if cargo +nightly fuzz run "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        tail -n 40 "$logs/$t.log" >&2
    fi
    t1=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -n 1)
    corpus=$(find "$work" -type f | wc -l)
    summary+=("$(printf '%-10s %-7s %10s execs %7s/s %6s inputs in corpus %4s s' \
        "$t" "$status" "${execs:-?}" "${rate:-?}" "$corpus" "$((t1 - t0))")")
done
end=$(date +%s)

echo "fuzz: summary (logs in $logs/)"
printf '  %s\n' "${summary[@]}"
echo "fuzz: wall time $((end - start)) s (build $((built - start)) s, runs $((end - built)) s)"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
