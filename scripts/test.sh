#!/usr/bin/env bash
# Installs what the tests need and runs them all (the README's second command). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
PY=$(command -v python || command -v python3)
"$PY" -m pip install -q -r requirements-dev.txt
# Chromium for the browser tests; Noto CJK so that the Japanese pages render with a real font
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium and fonts-noto-cjk for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "note: install Debian's chromium and fonts-noto-cjk for the browser tests (sudo apt-get install chromium fonts-noto-cjk)"
  fi
fi
"$PY" -m ruff check .
"$PY" -m mypy   # console/, scim_client/, pages/, app.py (pyproject.toml [tool.mypy])
"$PY" -m pytest -n 2 "$@"   # two workers: most tests wait on sandboxes and browsers, not CPU
