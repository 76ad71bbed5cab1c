#!/usr/bin/env bash
# Every benchmark, one after the other; summaries also land in bench/results/*.json.
# About 4 minutes on the 2-core dev machine. Needs the local PostgreSQL (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
.venv/bin/python -m bench.ingest --json bench/results/ingest.json "$@"
.venv/bin/python -m bench.handoff --json bench/results/handoff.json
