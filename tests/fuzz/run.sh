#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and runs each one, one at
# a time, for SECONDS (default 60) on a copy of its seed corpus (tests/fuzz/corpus/<target>; the
# committed corpus is never modified), with its dictionary (tests/fuzz/<target>.dict) when there
# is one. Prints per target the executions, exec/s and coverage, then a summary table.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]     e.g. tests/fuzz/run.sh 600 config_yaml
# Environment: FUZZ_EXTRA_ARGS (more libFuzzer flags), FUZZ_NO_BUILD=1 (skip the build).
#
# Exit status: 0 when every target ran its time without a finding; 1 on any crash, sanitizer
# report, leak, timeout or out-of-memory (the input is kept in build-fuzz/crashes/, see the
# message); 2 on a build or usage error.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))

all_targets=(webhook_trigger generic_rpc_json sync_body config_yaml servicenow_response
  onspring_response encoded_query onspring_filter)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")

cd "$root" || exit 2
if [[ ${FUZZ_NO_BUILD:-0} != 1 ]]; then
  echo "== Building the fuzz preset (build-fuzz)"
  if ! { nice -n 15 cmake --preset fuzz >/dev/null && nice -n 15 cmake --build --preset fuzz; }; then
    echo "fuzz build failed" >&2
    exit 2
  fi
fi

bin_dir=$root/build-fuzz/fuzz
crash_dir=$root/build-fuzz/crashes
mkdir -p "$crash_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/onsync-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# UBSan findings are fatal (the preset compiles recoverable checks), except the third-party ones
# listed in ubsan.supp; leaks are reported.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/fuzz/ubsan.supp}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

declare -A execs rate cov status
failed=0
for target in "${targets[@]}"; do
  binary=$bin_dir/${target}_fuzzer
  if [[ ! -x $binary ]]; then
    echo "no fuzzer $binary (known: ${all_targets[*]})" >&2
    status[$target]="MISSING"
    failed=1
    continue
  fi
  corpus=$work/$target
  mkdir -p "$corpus"
  cp -r "$root/tests/fuzz/corpus/$target/." "$corpus/" 2>/dev/null || true
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$crash_dir/$target-")
  [[ -f $root/tests/fuzz/$target.dict ]] && args+=(-dict="$root/tests/fuzz/$target.dict")
  # shellcheck disable=SC2206
  args+=(${FUZZ_EXTRA_ARGS:-})
  log=$crash_dir/$target.log
  echo "== $target: ${seconds}s (log: ${log#"$root"/})"
  nice -n 15 "$binary" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  execs[$target]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  [[ -n ${execs[$target]} ]] || execs[$target]=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  rate[$target]=$(grep -oE 'exec/s: [0-9]+' <<<"$last" | tail -1 | cut -d' ' -f2)
  cov[$target]=$(grep -oE 'cov: [0-9]+' <<<"$last" | tail -1 | cut -d' ' -f2)
  if ((rc == 0)); then
    status[$target]=ok
  else
    failed=1
    artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | cut -d' ' -f5)
    kind=$(grep -m1 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)' "$log")
    [[ -n $kind ]] || kind=$(grep -m1 -E 'runtime error|fuzz invariant violated|ALARM|out-of-memory' "$log")
    status[$target]="FAILED (exit $rc)"
    echo "!! $target found a problem: ${kind:-see the log}" >&2
    echo "!! input kept in ${artifact:-$crash_dir}; reproduce: $binary ${artifact:-<input>}" >&2
    echo "!! full log: $log" >&2
  fi
  printf '   executions: %s  exec/s: %s  coverage (edges): %s  -> %s\n' \
    "${execs[$target]:-?}" "${rate[$target]:-?}" "${cov[$target]:-?}" "${status[$target]}"
done

echo
printf '%-22s %12s %8s %10s  %s\n' target executions exec/s coverage result
for target in "${targets[@]}"; do
  printf '%-22s %12s %8s %10s  %s\n' "$target" "${execs[$target]:-?}" "${rate[$target]:-?}" \
    "${cov[$target]:-?}" "${status[$target]:-?}"
done
exit $failed
