#!/usr/bin/env bash
# Install tcplab on Debian/Ubuntu, as root:
#   ./install.sh          Debian packages + tcplab in its own virtual environment, `tcplab` on PATH
#   ./install.sh --test   the same (editable), plus the test dependencies; then lint and run all tests
#   ./install.sh --no-references
#                         the same as no option, without the labs' reference solutions (for a
#                         student's machine); `tcplab lab check NAME --reference` then says so
# The package (a wheel or sdist built from this tree) never holds the reference solutions
# (pyproject.toml excludes labs/*/solution.py); with no option, this script copies them from labs/
# into the installed labs, for an instructor. An editable install (--test) reads labs/ itself.
# TCPLAB_VENV chooses the virtual environment (default /opt/tcplab/venv), TCPLAB_BIN the folder of
# the `tcplab` link (default /usr/local/bin).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${TCPLAB_VENV:-/opt/tcplab/venv}
bin=${TCPLAB_BIN:-/usr/local/bin}
mode=${1:-}

case "$mode" in
  "" | --test | --no-references) ;;
  *) echo "error: unknown option '$mode'" >&2; echo "hint: use no option, --test or --no-references" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "error: install.sh needs root" >&2; echo "hint: run it with sudo" >&2; exit 3
fi

packages=(iproute2 nftables tcpdump ethtool libseccomp2 python3 python3-venv python3-pip)
[ "$mode" = --test ] && packages+=(shellcheck chromium fonts-dejavu-core fonts-wqy-microhei)  # the pictures, rendered by a real browser (Chinese too)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "creating the virtual environment $venv"
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade pip
if [ "$mode" = --test ]; then
  echo "installing tcplab from $here (editable) with its test dependencies into $venv"
  "${pip[@]}" -e "${here}[test]"
else
  echo "installing tcplab from $here into $venv"
  "${pip[@]}" "$here"
fi
labs=$("$venv/bin/python" -I -c 'import tcplab.labs; print(next(iter(tcplab.labs.__path__)))')
if [ "$mode" = --no-references ]; then
  # the package has none; an earlier instructor's install into this venv may have left some
  find "$labs" -mindepth 2 -maxdepth 3 \( -name solution.py -o -name 'solution.*.pyc' \) -delete
  echo "reference solutions left out of $labs"
elif [ "$mode" = "" ]; then
  for solution in "$here"/labs/*/solution.py; do
    lab=$(basename "$(dirname "$solution")")
    if [ -d "$labs/$lab" ]; then install -m 0644 "$solution" "$labs/$lab/solution.py"; fi
  done
  echo "reference solutions copied into $labs (for instructors; students: --no-references)"
fi
mkdir -p "$bin"
ln -sf "$venv/bin/tcplab" "$bin/tcplab"
echo "tcplab $("$venv/bin/tcplab" --version | cut -d' ' -f2) is installed: $bin/tcplab"

if [ "$mode" = --test ]; then
  cd "$here"
  echo "lint: ruff, mypy, the import layers, shellcheck"
  "$venv/bin/ruff" check .
  "$venv/bin/ruff" format --check .
  "$venv/bin/mypy"
  for checks in labs/*/checks.py; do  # each lab's checks, strict (one at a time: all are "checks")
    "$venv/bin/mypy" "$checks"
  done
  "$venv/bin/lint-imports" --no-cache  # the contracts in pyproject.toml [tool.importlinter]
  shellcheck install.sh netns_setup.sh .ci/run
  echo "tests"
  "$venv/bin/python" -m pytest
fi
