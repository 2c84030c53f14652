#!/usr/bin/env bash
# The GPU tests under NVIDIA's compute-sanitizer: racecheck (shared-memory hazards, cp.async
# waits included) and memcheck (out-of-bounds and misaligned accesses). Any report fails the
# script. Takes the test binaries from DIR (default .carry/gpu, as scripts/gpu-carry.sh builds
# them); runs each once without the sanitizer first, so that its kernels are compiled and
# cached before the sanitized run (NVRTC itself under the sanitizer has crashed the process).
#   scripts/gpu-sanitize.sh [DIR] [TEST ...]      (default tests: gpu_attention gpu_paged gpu_append gpu_int8_rows)
#   TOOLS="racecheck" scripts/gpu-sanitize.sh     (default: racecheck memcheck)
#   TEST_ARGS="--exact NAME" scripts/gpu-sanitize.sh DIR gpu_attention   (one test: libtest's arguments)
set -uo pipefail
dir=${1:-.carry/gpu}
shift || true
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(gpu_attention gpu_paged gpu_append gpu_int8_rows)
command -v compute-sanitizer > /dev/null || { echo "compute-sanitizer not on PATH (it ships with the CUDA toolkit, e.g. /usr/local/cuda/bin)"; exit 2; }
export VECINFER_REQUIRE_GPU=1 VECINFER_CACHE_DIR=${VECINFER_CACHE_DIR:-$(mktemp -d)}
logs=${LOGS:-$(mktemp -d)}
failed=0
for t in "${tests[@]}"; do
  bin=$dir/$t
  [ -x "$bin" ] || { echo "$t: no test binary at $bin"; failed=1; continue; }
  # shellcheck disable=SC2086 # TEST_ARGS is a list of arguments
  if ! "$bin" --ignored --test-threads 1 ${TEST_ARGS:-} > "$logs/$t.plain.log" 2>&1; then
    echo "$t: fails without the sanitizer ($logs/$t.plain.log)"; failed=1; continue
  fi
  for tool in ${TOOLS:-racecheck memcheck}; do
    extra=(--print-limit 20); [ "$tool" = racecheck ] && extra+=(--racecheck-report hazard)
    compute-sanitizer --tool "$tool" "${extra[@]}" --error-exitcode 3 \
      "$bin" --ignored --test-threads 1 ${TEST_ARGS:-} > "$logs/$t.$tool.log" 2>&1
    rc=$?
    summary=$(grep -aE "(RACECHECK|ERROR) SUMMARY" "$logs/$t.$tool.log" | tail -1)
    echo "$t under $tool: rc $rc; ${summary:-no summary} ($logs/$t.$tool.log)"
    # Racecheck's warnings do not set the exit code: the summary must read clean too.
    case "$summary" in
      *"SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"* | *"ERROR SUMMARY: 0 errors"*) ;;
      *) failed=1 ;;
    esac
    [ $rc -eq 0 ] || failed=1
  done
done
exit $failed
