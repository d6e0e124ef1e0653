#!/usr/bin/env bash
# The whole test suite: system packages, .venv, ruff, mypy, import-linter, then pytest under
# a private D-Bus session with an unlocked gnome-keyring and a virtual X server.
# Extra arguments go to pytest:  ./run-tests.sh tests/unit -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=packaging/bootstrap.sh
source packaging/bootstrap.sh

step="bootstrap"
tmp=""
mlserver_pid=""
finish() {
    local rc=$?
    [[ -n "$tmp" ]] && rm -rf "$tmp"
    if [[ -n "$mlserver_pid" ]] && kill -0 "$mlserver_pid" 2>/dev/null; then  # failed before waiting on it
        pkill -P "$mlserver_pid" 2>/dev/null || true
        kill "$mlserver_pid" 2>/dev/null || true
    fi
    local took=$((SECONDS - SB_T0))
    if ((rc == 0)); then
        printf '\n==> run-tests: all steps passed in %dm%02ds\n' $((took / 60)) $((took % 60))
    else
        printf '\n==> run-tests: FAILED at "%s" (exit %d) after %dm%02ds\n' "$step" "$rc" $((took / 60)) $((took % 60))
    fi
}
trap finish EXIT

step="system packages"; sb_section "System packages (Qt xcb libraries, Xvfb, D-Bus, gnome-keyring)"
sb_ensure_system_packages test

# MLServer's own venv is built in the background while .venv is built and the linters run.
mlserver_log=""
if [[ "${SWITCHBOARD_SKIP_MLSERVER:-0}" != 1 ]]; then
    mlserver_log=$(mktemp -t switchboard-mlserver.XXXXXX)
    (sb_ensure_mlserver_venv packaging/requirements-mlserver.txt) >"$mlserver_log" 2>&1 &
    mlserver_pid=$!
fi

step="python environment"; sb_section "Python environment (.venv from packaging/requirements-test.txt)"
sb_ensure_venv packaging/requirements-test.txt
sb_ensure_qt_libs
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"

step="ruff"; sb_section "ruff check console tests"
ruff check console tests

step="mypy"; sb_section "mypy console"
mypy console

step="lint-imports"; sb_section "lint-imports"
lint-imports --no-cache --no-logo

step="mlserver environment"; sb_section "MLServer environment (.venv-mlserver, built in the background)"
if [[ -z "$mlserver_pid" ]]; then
    echo "SWITCHBOARD_SKIP_MLSERVER=1: the MLServer test will skip."
else
    mlserver_rc=0
    wait "$mlserver_pid" || mlserver_rc=$?
    cat "$mlserver_log"
    rm -f "$mlserver_log"
    ((mlserver_rc == 0)) || sb_die "building .venv-mlserver failed (exit $mlserver_rc): see above"
    # The serving-host test must meet a real MLServer here, not skip.
    export SWITCHBOARD_MLSERVER="$PWD/.venv-mlserver/bin/mlserver" SWITCHBOARD_REQUIRE_MLSERVER=1
fi

step="pytest"; sb_section "pytest $* (dbus-run-session + gnome-keyring + xvfb-run)"
tmp=$(mktemp -d -t switchboard-tests.XXXXXX)
mkdir -m 700 "$tmp/data" "$tmp/config" "$tmp/runtime"
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" XDG_RUNTIME_DIR="$tmp/runtime"
# Tests choose their platform: offscreen for widgets, xcb on this Xvfb display for screenshots.
unset QT_QPA_PLATFORM
# Two pytest workers (pytest-xdist; a test file stays on one worker): most tests wait on real
# processes, so two workers use two cores. SWITCHBOARD_TEST_WORKERS=0 runs them in one process.
workers=${SWITCHBOARD_TEST_WORKERS:-2}
# The credential tests must meet a real Secret Service here, not skip.
export SWITCHBOARD_REQUIRE_KEYRING=1
# ... and the Prometheus place tests a real Prometheus server (Debian package prometheus).
export SWITCHBOARD_REQUIRE_PROMETHEUS=1
dbus-run-session -- sh -c '
    printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    exec xvfb-run -a -s "-screen 0 1600x1000x24" python -m pytest "$@"
' sh -n "$workers" --dist loadfile "$@"
