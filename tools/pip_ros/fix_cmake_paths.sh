#!/usr/bin/env bash
# The ROS wheels' exported CMake files name the wheel build machine's Python
# (/opt/python/cp311-cp311/...). Point them at this venv's Python headers and
# numpy so that interface packages can be built against the wheels.
# Usage: fix_cmake_paths.sh VENV   (idempotent: only rewrites what still names /opt/python)
set -euo pipefail
venv=$1
py=$venv/bin/python
pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$py" -c 'import numpy; print(numpy.get_include())')
[ -f "$pyinc/Python.h" ] || { echo "fix_cmake_paths: no Python.h in $pyinc (install the Python headers)" >&2; exit 1; }
files=$(grep -rl --include='*.cmake' '/opt/python/cp311-cp311' "$venv/share" || true)
[ -z "$files" ] && exit 0
# shellcheck disable=SC2086
sed -i \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g" \
  $files
echo "fix_cmake_paths: rewrote $(echo "$files" | wc -l) CMake files"
