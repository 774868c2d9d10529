#!/usr/bin/env bash
# Installs the Debian packages simhost needs to build, test, benchmark and run its examples.
# Idempotent: does nothing (and prints nothing) when every package is already installed.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  dpkg-dev  # dpkg-source: the tsan preset unpacks Debian's oneTBB source (cmake/tsan_tbb.cmake)
  libtbb-dev libeigen3-dev libfmt-dev doctest-dev pybind11-dev librandom123-dev
  python3-dev python3-numpy python3-pytest
  python3-numba python3-matplotlib
  # install and environment tests: pip/venv installs, CPython's own interpreter tests
  python3-pip python3-setuptools python3-wheel python3-venv libpython3.11-testsuite
  python3-tqdm  # progress bars (terminal and Jupyter), imported only when a bar is drawn
  python3-nbclient python3-nbformat python3-ipykernel  # tests/scripts/test_notebook.py runs a real notebook
  # batches: the spec (TOML), the store (SQLite), MPI ranks, and reading results as DataFrames
  libtomlplusplus-dev libsqlite3-dev libopenmpi-dev openmpi-bin python3-pandas
  nlohmann-json3-dev libssl-dev  # run parameters as canonical JSON; SHA-256 run ids and file hashes
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: missing packages: ${missing[*]}; run this script as root (or with sudo)" >&2
  exit 1
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
