#!/usr/bin/env bash
# Build one ament_cmake interface package into a venv with plain CMake + Ninja.
# Usage: build_interfaces.sh VENV SOURCE_DIR BUILD_DIR [extra cmake args...]
set -euo pipefail
venv=$(cd "$1" && pwd); src=$2; build=$3; shift 3
export AMENT_PREFIX_PATH=$venv PATH=$venv/bin:$PATH
log=$build.log
mkdir -p "$(dirname "$build")"
{
  cmake -S "$src" -B "$build" -G Ninja \
    -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF "$@" &&
  cmake --build "$build" &&
  cmake --install "$build"
} >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "build_interfaces: $src failed, full log in $log" >&2; exit 1; }
echo "build_interfaces: built $(basename "$src")"
