# shellcheck shell=bash
# Sourced by the scripts that install Debian packages (install-deps, docker-up,
# podman-e2e).
#   install_missing [APT-OPTION...] -- PACKAGE...
# installs those of the packages not installed yet: apt-get update first, and both only
# when something is missing. Options before "--" go to apt-get install.
install_missing() {
    local options=() missing=() sudo=() package
    while [ "$1" != -- ]; do
        options+=("$1")
        shift
    done
    shift
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    echo "$(basename "$0"): installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${options[@]}" \
        "${missing[@]}" >/dev/null
}
