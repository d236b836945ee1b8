#!/usr/bin/env bash
# valgrind-readers.sh [GOLF_TESTS]: the artifact, shard, corpus, loader, config and pipeline reader tests
# under valgrind's memcheck; exits non-zero on any memory error (reports from other libraries are
# suppressed in scripts/valgrind.supp, never golf's). Also run by ctest as `valgrind_readers`.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=${1:-build/bin/golf_tests}
exec valgrind --error-exitcode=9 --errors-for-leak-kinds=none --suppressions=scripts/valgrind.supp -q \
  "$tests" --gtest_filter='ArtifactTest.*:ShardTest.*:CorpusTest.*:LoaderTest.*:ConfigTest.*:PipelineTest.*'
