# shellcheck shell=bash
# Shared bootstrap for ./run-tests.sh and ./switchboard.sh. Source it from the repository
# root under `set -euo pipefail`; it only defines functions and variables.
#
#   sb_ensure_system_packages runtime|test   Debian/Ubuntu packages (apt-get as root,
#                                             otherwise print the command and exit 1)
#   sb_ensure_venv REQUIREMENTS [COVERING]    .venv with the pinned requirements and the
#                                             project (editable); skipped while the stamp
#                                             (hash of the inputs) is unchanged
#   sb_ensure_qt_libs                         every library Qt's xcb plugin links resolves
#
# Environment: PYTHON (interpreter to build .venv with), SWITCHBOARD_SKIP_APT=1 (never
# touch or check Debian packages).

SB_VENV=.venv

# Qt (PySide6 wheels) on X11: the xcb platform plugin and what it and QtGui load at run time.
SB_QT_RUNTIME_PKGS=(
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
    libxkbcommon-x11-0 libxkbcommon0 libegl1 libgl1 libfontconfig1 libdbus-1-3
    libglib2.0-0 fonts-dejavu-core
)
# The test command adds a virtual X server, a session bus, a Secret Service and a Prometheus
# server (/usr/bin/prometheus; the tests start their own on 127.0.0.1, never the packaged service).
SB_TEST_PKGS=(xvfb xauth dbus gnome-keyring prometheus)
SB_TEST_OPTIONAL_PKGS=(dbus-x11)

sb_say() { printf '%s\n' "$*" >&2; }
sb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }
SB_T0=$SECONDS
sb_section() { printf '\n==> [%d:%02d] %s\n' $(((SECONDS - SB_T0) / 60)) $(((SECONDS - SB_T0) % 60)) "$*"; }

sb_is_debian() {
    [[ "${SWITCHBOARD_SKIP_APT:-0}" != 1 ]] && command -v dpkg-query >/dev/null 2>&1 \
        && command -v apt-get >/dev/null 2>&1
}

# Prints the names among "$@" that dpkg does not report as fully installed. A package
# also counts as installed under its 64-bit-time name (libglib2.0-0 -> libglib2.0-0t64).
sb_missing_debs() {
    (($# == 0)) && return 0
    local status pkg
    local -A ok=()
    local names=("$@")
    for pkg in "$@"; do names+=("${pkg}t64"); done
    status=$(dpkg-query -W -f='${Package} ${Status}\n' "${names[@]}" 2>/dev/null || true)
    while read -r pkg _ _ s; do
        [[ "$s" == installed ]] && ok[$pkg]=1
    done <<<"$status"
    for pkg in "$@"; do
        [[ -n "${ok[$pkg]:-}" || -n "${ok[${pkg}t64]:-}" ]] || printf '%s\n' "$pkg"
    done
}

# Has apt a candidate version of $1 (after apt-get update)?
sb_apt_has() {
    local cand
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    [[ -n "$cand" && "$cand" != "(none)" ]]
}

# sb_apt_install "required..." "optional..." (two space-separated lists). As root: installs
# the required packages and whichever optional ones apt knows. Otherwise prints the command
# and exits 1 (only when a required package is missing).
sb_apt_install() {
    local -a required=() optional=() install=()
    read -r -a required <<<"$1"
    read -r -a optional <<<"${2:-}"
    ((${#required[@]} + ${#optional[@]} == 0)) && return 0
    if [[ $(id -u) != 0 ]]; then
        ((${#required[@]} == 0)) && return 0
        sb_say "Missing Debian packages: ${required[*]}"
        sb_say "Install them with:"
        sb_say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${required[*]}${optional[*]:+ ${optional[*]}}"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -o Dpkg::Use-Pty=0)
    echo "Installing Debian packages: ${required[*]}${optional[*]:+ ${optional[*]}}"
    apt-get "${apt_opts[@]}" update -qq || apt-get "${apt_opts[@]}" update -qq
    local pkg
    for pkg in "${required[@]}"; do
        if ! sb_apt_has "$pkg" && sb_apt_has "${pkg}t64"; then pkg="${pkg}t64"; fi
        install+=("$pkg")
    done
    for pkg in "${optional[@]}"; do
        if sb_apt_has "$pkg"; then install+=("$pkg"); else sb_say "(skipping optional $pkg: apt has no candidate)"; fi
    done
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${install[@]}" \
        || sb_die "apt-get install failed for: ${install[*]}"
}

# sb_ensure_system_packages runtime|test
sb_ensure_system_packages() {
    local kind=$1
    local -a req=("${SB_QT_RUNTIME_PKGS[@]}") opt=()
    if [[ "$kind" == test ]]; then
        req+=("${SB_TEST_PKGS[@]}")
        opt+=("${SB_TEST_OPTIONAL_PKGS[@]}")
    fi
    if ! sb_is_debian; then
        sb_say "Not a Debian/Ubuntu system (or SWITCHBOARD_SKIP_APT=1): not checking system packages."
        if [[ "$kind" == test ]]; then
            local cmd
            for cmd in xvfb-run xauth dbus-run-session gnome-keyring-daemon prometheus; do
                command -v "$cmd" >/dev/null 2>&1 \
                    || sb_die "'$cmd' not found: install Xvfb, xauth, D-Bus, gnome-keyring and Prometheus."
            done
        fi
        return 0
    fi
    # A Debian python3 without ensurepip cannot make a venv.
    local py
    if [[ ! -x "$SB_VENV/bin/python" ]] && py=$(sb_find_python 2>/dev/null) \
        && ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        req+=(python3-venv)
    fi
    local -a missing_req missing_opt
    mapfile -t missing_req < <(sb_missing_debs "${req[@]}")
    mapfile -t missing_opt < <(sb_missing_debs "${opt[@]}")
    if ((${#missing_req[@]} + ${#missing_opt[@]} == 0)); then
        echo "All ${#req[@]} required Debian packages are installed."
        return 0
    fi
    # Non-root and only optional ones missing: carry on without them.
    if [[ $(id -u) != 0 ]] && ((${#missing_req[@]} == 0)); then
        echo "All required Debian packages are installed (optional, missing: ${missing_opt[*]})."
        return 0
    fi
    sb_apt_install "${missing_req[*]}" "${missing_opt[*]}"
    # Debian's prometheus package enables and (under systemd) starts a server listening on every
    # interface; the tests only run the binary on 127.0.0.1. Stop the service we just installed.
    if [[ " ${missing_req[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 \
        && [[ -d /run/systemd/system ]]; then
        echo "Stopping and disabling the packaged prometheus service (the tests start their own on 127.0.0.1)."
        systemctl disable --now prometheus >/dev/null 2>&1 || sb_say "(could not disable the prometheus service)"
    fi
}

# Prints a python (>= 3.11) to build the venv with, or fails with a clear message.
sb_find_python() {
    local c found=()
    for c in ${PYTHON:+"$PYTHON"} python3 python3.13 python3.12 python3.11; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
        found+=("$c: $("$c" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))' 2>/dev/null || echo '?')")
    done
    sb_say "Python 3.11 or newer is required, but none was found on PATH${found:+ (found ${found[*]})}."
    sb_say "Install python3.11 (or newer), or point PYTHON at one: PYTHON=/path/to/python3.12 $0"
    return 1
}

# Hash of a requirements file, the files it includes with -r, pyproject.toml and the
# interpreter version: what decides whether .venv must be refreshed.
sb_inputs_hash() {
    local reqfile=$1 dir inc
    dir=$(dirname "$reqfile")
    {
        cat "$reqfile"
        while read -r inc; do cat "$dir/$inc"; done < <(sed -n 's/^-r[[:space:]]*//p' "$reqfile")
        cat pyproject.toml
        "$SB_VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

sb_stamp_file() { printf '%s/.switchboard-stamp-%s' "$SB_VENV" "$(basename "$1")"; }

sb_stamp_ok() {
    local stamp
    stamp=$(sb_stamp_file "$1")
    [[ -f "$stamp" && "$(cat "$stamp")" == "$(sb_inputs_hash "$1")" ]]
}

# sb_ensure_venv REQUIREMENTS [COVERING]: COVERING is a superset requirements file whose
# current stamp also satisfies this one (the test pins include the runtime pins).
sb_ensure_venv() {
    local reqfile=$1 covering=${2:-}
    [[ -f "$reqfile" ]] || sb_die "$reqfile not found"
    mkdir -p "$SB_VENV"
    # One bootstrap at a time per checkout; the lock is released before returning.
    exec 9>"$SB_VENV/.bootstrap.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi

    if [[ -e "$SB_VENV/bin/python" ]] \
        && ! "$SB_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        sb_say "$SB_VENV/bin/python is broken or older than 3.11: recreating $SB_VENV"
        find "$SB_VENV" -mindepth 1 -maxdepth 1 ! -name .bootstrap.lock -exec rm -rf {} +
    fi
    if [[ ! -x "$SB_VENV/bin/python" ]]; then
        local py
        py=$(sb_find_python) || exit 1
        echo "Creating $SB_VENV with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$SB_VENV" \
            || sb_die "could not create $SB_VENV with $py (on Debian/Ubuntu: apt-get install python3-venv)"
    fi

    if sb_stamp_ok "$reqfile" || { [[ -n "$covering" && -f "$covering" ]] && sb_stamp_ok "$covering"; }; then
        echo "$SB_VENV is up to date with $reqfile ($("$SB_VENV/bin/python" --version))."
    else
        local -a pip_opts=(--disable-pip-version-check --no-input)
        [[ -t 1 ]] || pip_opts+=(--progress-bar off)
        echo "Installing $reqfile and the project into $SB_VENV"
        "$SB_VENV/bin/python" -m pip install "${pip_opts[@]}" -r "$reqfile"
        "$SB_VENV/bin/python" -m pip install "${pip_opts[@]}" -q -e . --no-deps
        "$SB_VENV/bin/python" -m pip check
        sb_inputs_hash "$reqfile" >"$(sb_stamp_file "$reqfile")"
    fi
    exec 9>&-
}

# Maps a shared-library soname to the Debian package that usually ships it.
sb_soname_to_deb() {
    local so=$1 base ver
    case "$so" in
        libglib-2.0.so.* | libgobject-2.0.so.* | libgio-2.0.so.* | libgthread-2.0.so.* | libgmodule-2.0.so.*)
            echo libglib2.0-0; return ;;
        libGL.so.1) echo libgl1; return ;;
        libEGL.so.1) echo libegl1; return ;;
        libOpenGL.so.0) echo libopengl0; return ;;
        libGLX.so.0) echo libglx0; return ;;
    esac
    base=${so%%.so.*}
    ver=${so#*.so.}
    ver=${ver%%.*}
    base=$(tr 'A-Z_' 'a-z-' <<<"$base")
    if [[ "$base" =~ [0-9]$ ]]; then echo "$base-$ver"; else echo "$base$ver"; fi
}

# Prints the sonames that PySide6's xcb platform plugin (and friends) cannot resolve.
sb_qt_unresolved_libs() {
    local qt lib
    qt=$(compgen -G "$SB_VENV/lib/python3*/site-packages/PySide6/Qt" | head -n1) || true
    [[ -n "$qt" ]] || return 0
    for lib in "$qt"/plugins/platforms/libqxcb.so "$qt"/plugins/xcbglintegrations/*.so "$qt"/lib/libQt6Widgets.so.6; do
        if [[ -e "$lib" ]]; then ldd "$lib" 2>/dev/null || true; fi
    done | awk '/not found/ {print $1}' | sort -u
}

# Every library the xcb plugin needs must resolve; installs the packages for the rest
# (root on Debian), otherwise names them and exits 1.
sb_ensure_qt_libs() {
    local -a libs pkgs=()
    mapfile -t libs < <(sb_qt_unresolved_libs)
    ((${#libs[@]} == 0)) && { echo "Qt's xcb plugin resolves all its libraries."; return 0; }
    sb_say "Qt's xcb plugin cannot find: ${libs[*]}"
    sb_is_debian || sb_die "install the system packages that provide them"
    local so
    for so in "${libs[@]}"; do pkgs+=("$(sb_soname_to_deb "$so")"); done
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    sb_apt_install "${pkgs[*]}" ""
    mapfile -t libs < <(sb_qt_unresolved_libs)
    ((${#libs[@]} == 0)) || sb_die "still unresolved after installing ${pkgs[*]}: ${libs[*]} (find the package with: apt-file search ${libs[0]})"
}

# ---------------------------------------------------------------- MLServer (tests only)
# sb_ensure_mlserver_venv [REQUIREMENTS]: .venv-mlserver with MLServer and mlserver-sklearn
# (packaging/requirements-mlserver.txt), apart from .venv because their pins conflict. Skipped
# while its stamp (hash of the requirements and the interpreter version) is unchanged.
# MLServer 1.7.1 supports Python 3.9-3.12: PYTHON_MLSERVER picks the interpreter, otherwise the
# first of python3, python3.12 ... python3.9 in that range. Sets SB_MLSERVER_BIN.
SB_MLSERVER_VENV=.venv-mlserver

sb_find_mlserver_python() {
    local c
    for c in ${PYTHON_MLSERVER:+"$PYTHON_MLSERVER"} python3 python3.12 python3.11 python3.10 python3.9; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    sb_say "MLServer 1.7.1 needs Python 3.9-3.12 for $SB_MLSERVER_VENV, and none was found on PATH."
    sb_say "Point PYTHON_MLSERVER at one (PYTHON_MLSERVER=/path/to/python3.12 $0), or set"
    sb_say "SWITCHBOARD_SKIP_MLSERVER=1 to skip the MLServer test."
    return 1
}

sb_mlserver_hash() {
    { cat "$1"; "$SB_MLSERVER_VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

sb_ensure_mlserver_venv() {
    local reqfile=${1:-packaging/requirements-mlserver.txt} stamp="$SB_MLSERVER_VENV/.switchboard-stamp"
    [[ -f "$reqfile" ]] || sb_die "$reqfile not found"
    mkdir -p "$SB_MLSERVER_VENV"
    exec 8>"$SB_MLSERVER_VENV/.bootstrap.lock"
    if command -v flock >/dev/null 2>&1; then flock 8; fi
    if [[ -e "$SB_MLSERVER_VENV/bin/python" ]] && ! "$SB_MLSERVER_VENV/bin/python" -c \
        'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null; then
        sb_say "$SB_MLSERVER_VENV/bin/python is broken or outside Python 3.9-3.12: recreating $SB_MLSERVER_VENV"
        find "$SB_MLSERVER_VENV" -mindepth 1 -maxdepth 1 ! -name .bootstrap.lock -exec rm -rf {} +
    fi
    if [[ ! -x "$SB_MLSERVER_VENV/bin/python" ]]; then
        local py
        py=$(sb_find_mlserver_python) || exit 1
        echo "Creating $SB_MLSERVER_VENV with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$SB_MLSERVER_VENV" \
            || sb_die "could not create $SB_MLSERVER_VENV with $py (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$(sb_mlserver_hash "$reqfile")" ]]; then
        echo "$SB_MLSERVER_VENV is up to date with $reqfile."
    else
        local -a pip_opts=(--disable-pip-version-check --no-input)
        [[ -t 1 ]] || pip_opts+=(--progress-bar off)
        echo "Installing $reqfile into $SB_MLSERVER_VENV"
        "$SB_MLSERVER_VENV/bin/python" -m pip install "${pip_opts[@]}" -q -r "$reqfile"
        "$SB_MLSERVER_VENV/bin/python" -m pip check
        sb_mlserver_hash "$reqfile" >"$stamp"
    fi
    exec 8>&-
    SB_MLSERVER_BIN="$PWD/$SB_MLSERVER_VENV/bin/mlserver"
    [[ -x "$SB_MLSERVER_BIN" ]] || sb_die "$SB_MLSERVER_BIN is missing after installing $reqfile"
}
