#!/usr/bin/env bash
# The thorough property runs: the key fuzz and the pathological values (huge
# ints, deep nesting: stored and read back, or refused with nothing written)
# with the "thorough" Hypothesis profile, 10,000 examples per test (CI runs the
# same tests with the "ci" profile, about 100 examples each).
#
#   scripts/thorough.sh                                  # the key fuzz and the value fuzz
#   scripts/thorough.sh tests/test_stateful.py -x        # any pytest arguments instead
#
# Takes a few minutes. Uses run.py, which creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- tests/test_key_fuzz.py tests/test_keys.py tests/test_model_hardening.py
fi
export VOLSTORE_HYPOTHESIS_PROFILE=thorough
exec python3 run.py pytest -q --hypothesis-show-statistics -p no:cacheprovider "$@"
