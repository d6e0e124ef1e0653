#!/usr/bin/env bash
# Launches the Switchboard console (creating .venv and installing what it needs first).
# Arguments go to the `switchboard` command:  ./switchboard.sh status
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=packaging/bootstrap.sh
source packaging/bootstrap.sh

sb_ensure_system_packages runtime >&2
sb_ensure_venv packaging/requirements.txt packaging/requirements-test.txt >&2
sb_ensure_qt_libs >&2
exec .venv/bin/switchboard "$@"
