#!/usr/bin/env bash
# Coverage-guided fuzzing of one target with SharpFuzz and afl-fuzz (AFL++), for longer runs than CI's.
#   fuzz/run.sh TARGET [SECONDS]      e.g. fuzz/run.sh sanitizer 600
# Targets: line-reader, sanitizer, chat-input, event-parser. Needs afl-fuzz (Debian: apt-get install afl++);
# the sharpfuzz instrumenter comes from this repository's tool manifest. Findings are replayed at the end with
# an uninstrumented build; copy each into fuzz/corpus/TARGET/ as a regression and fix the bug.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${PARLEY_FUZZ_DIR:-/tmp/parley-fuzz}/$target
command -v afl-fuzz >/dev/null || { echo "fuzz/run.sh: afl-fuzz not found (apt-get install afl++)" >&2; exit 2; }

rm -rf "$work/bin" && mkdir -p "$work"
cd "$root"
dotnet tool restore >/dev/null
dotnet build fuzz/Parley.Fuzz -c Release -v q -nologo >/dev/null
dotnet publish fuzz/Parley.Fuzz -c Release -o "$work/bin" -v q -nologo >/dev/null
# Only the code under test is instrumented: AFL sees which branches of Parley.Protocol an input reached.
dotnet sharpfuzz "$work/bin/Parley.Protocol.dll" >/dev/null

# The .NET runtime is not built with AFL's compiler, hence AFL_SKIP_BIN_CHECK; -V bounds the run.
AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
  afl-fuzz -V "$seconds" -i "fuzz/corpus/$target" -o "$work/out" -t 5000 -m none \
  -- dotnet "$work/bin/parley-fuzz.dll" "$target" --afl >"$work/afl.log" 2>&1 || true
grep -E "execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs" "$work/out/default/fuzzer_stats" || { tail -20 "$work/afl.log"; exit 1; }

crashes=("$work"/out/default/crashes/id*)
if [[ -e "${crashes[0]}" ]]; then
  # The instrumented build cannot run outside afl-fuzz; replay with the plain one to see each finding.
  dotnet fuzz/Parley.Fuzz/bin/Release/net10.0/parley-fuzz.dll "$target" "${crashes[@]}" || true
  echo "findings are in $work/out/default/crashes"
  exit 1
fi
echo "no findings in $seconds seconds"
