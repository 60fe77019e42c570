#!/usr/bin/env bash
# The thorough property runs, with the "thorough" Hypothesis profile, 10,000
# examples per test (CI runs the same tests with the "ci" profile, about 100
# examples each):
#   - the key fuzz (any text as an id or user id: refused, or stored inside the root);
#   - the pathological values (huge ints, deep nesting: stored and read back,
#     or refused with nothing written);
#   - hostile things below the root (symbolic links to outside folders and
#     files, FIFOs, folders and garbage where objects or folders belong, files
#     over the size limit, a broken layout marker) under random operations:
#     typed errors, no hang, nothing outside touched;
#   - short user hashes: lengths below the bound refused, and users sharing
#     folders never reading each other's objects.
#
#   scripts/thorough.sh                                  # all of the above
#   scripts/thorough.sh tests/test_stateful.py -x        # any pytest arguments instead
#
# Takes a quarter of an hour or so. Uses run.py, which creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- tests/test_key_fuzz.py tests/test_keys.py tests/test_model_hardening.py \
        tests/test_hostile_fuzz.py
fi
export VOLSTORE_HYPOTHESIS_PROFILE=thorough
exec python3 run.py pytest -q --hypothesis-show-statistics -p no:cacheprovider "$@"
