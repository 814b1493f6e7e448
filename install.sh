#!/usr/bin/env bash
# Install tcplab on Debian/Ubuntu, as root:
#   ./install.sh          Debian packages + tcplab in its own virtual environment, `tcplab` on PATH
#   ./install.sh --test   the same (editable), plus the test dependencies; then lint and run all tests
# TCPLAB_VENV chooses the virtual environment (default /opt/tcplab/venv).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${TCPLAB_VENV:-/opt/tcplab/venv}
mode=${1:-}

case "$mode" in
  "" | --test) ;;
  *) echo "error: unknown option '$mode'" >&2; echo "hint: use no option, or --test" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "error: install.sh needs root" >&2; echo "hint: run it with sudo" >&2; exit 3
fi

packages=(iproute2 nftables tcpdump ethtool libseccomp2 python3 python3-venv python3-pip)
[ "$mode" = --test ] && packages+=(shellcheck)
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
ln -sf "$venv/bin/tcplab" /usr/local/bin/tcplab
echo "tcplab $("$venv/bin/tcplab" --version | cut -d' ' -f2) is installed: /usr/local/bin/tcplab"

if [ "$mode" = --test ]; then
  cd "$here"
  echo "lint: ruff, mypy, shellcheck"
  "$venv/bin/ruff" check .
  "$venv/bin/ruff" format --check .
  "$venv/bin/mypy"
  shellcheck install.sh netns_setup.sh .ci/run
  echo "tests"
  "$venv/bin/python" -m pytest
fi
