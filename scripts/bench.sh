#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (issue 7): builds netbench twice, plain for the
# timings and with the `stats` feature for the exact syscall counts, then
# runs every section and writes the report and its charts.
#
#   scripts/bench.sh                 # the full run (about 10 minutes)
#   scripts/bench.sh --quick         # a smoke run of the harness
#   scripts/bench.sh --only udp      # some sections (see --help)
#   scripts/bench.sh --update --only balance
#                                    # one section, put into BENCHMARKS.md
#                                    # in place (the rest is left as it was)
#
# Extra arguments go to netbench. Needs strace and valgrind for the
# cross-checks (the sections still run without them, and say so).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=BENCHMARKS.md
# The counting build: its path comes from cargo's JSON messages.
count_exe=$(cargo bench --bench netbench --features stats --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$count_exe" ] || [ ! -x "$count_exe" ]; then
  echo "bench.sh: could not build netbench with --features stats" >&2
  exit 1
fi
cargo bench --bench netbench --no-run
# The accept-balance section runs the workers example as its server;
# cargo bench does not build examples.
cargo build --release --example workers
exec cargo bench --bench netbench -- --count-exe "$count_exe" --write "$out" "$@"
