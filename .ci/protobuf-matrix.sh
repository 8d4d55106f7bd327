#!/usr/bin/env bash
# Install avatarwire (non-editable) against the lowest declared protobuf and the newest
# one the declared range allows, and run the wire and motion tests on each: the
# committed gencode must import and round-trip every message on both ends of the range.
#
# Usage: bash .ci/protobuf-matrix.sh [PYTHON]   (PYTHON defaults to python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-python3}"

# The declared requirement, e.g. "protobuf>=5.29.1,<8", read from pyproject.toml.
spec="$(grep -oE '"protobuf[^"]*"' "$repo/pyproject.toml" | head -n1 | tr -d '"')"
floor="$(sed -nE 's/.*>=[[:space:]]*([0-9][0-9.]*).*/\1/p' <<<"$spec")"
if [[ -z "$spec" || -z "$floor" ]]; then
    echo "protobuf-matrix: cannot read the protobuf requirement from pyproject.toml" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/protobuf-matrix.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# Build one wheel from a copy of the tree (an in-tree build would leave build/ and
# *.egg-info behind), then install it in one venv per end of the range.
mkdir "$work/src" "$work/dist"
tar -C "$repo" --exclude=.git --exclude=build --exclude='*.egg-info' \
    --exclude=.hypothesis --exclude=.mypy_cache --exclude=.pytest_cache --exclude=.ruff_cache \
    -cf - . | tar -C "$work/src" -xf -
"$python" -m venv "$work/builder"
"$work/builder/bin/pip" wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/avatarwire-*.whl)"

# One venv per end of the range; "lowest" pins the floor, "newest" lets pip pick the
# newest release inside the declared range.
run_one() {
    local label="$1" pin="$2"
    local venv="$work/$label"
    echo "== protobuf-matrix [$label]: installing avatarwire with '$pin'"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet "$wheel" "$pin" pytest pytest-timeout hypothesis
    local version
    version="$("$venv/bin/python" -c 'import google.protobuf as p; print(p.__version__)')"
    echo "== protobuf-matrix [$label]: protobuf $version"
    # Run from the temp dir so the installed package, not the work tree, is imported;
    # -W error: importing the schema must not even warn on this runtime.
    (
        cd "$work"
        "$venv/bin/python" -W error -c '
import avatarwire.core.wire as wire
print("== imported", wire.__file__)
'
        "$venv/bin/pytest" -q -p no:cacheprovider -o addopts="" --rootdir "$repo" \
            "$repo/tests/test_wire.py" "$repo/tests/test_motion.py"
    )
    echo "== protobuf-matrix [$label]: protobuf $version OK"
}

run_one lowest "protobuf==$floor"
run_one newest "$spec"
echo "== protobuf-matrix: passed for protobuf ==$floor and the newest of '$spec'"
