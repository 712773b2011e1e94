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

#   debian_mirror
# prints the Debian archive this machine's apt uses for bookworm's main component (from
# /etc/apt/sources.list.d/*.sources, then sources.list), so that a debootstrap goes through
# whatever mirror or proxy the machine is set up for. Fails when none is configured.
debian_mirror() {
    local found
    found=$(awk '
        # (exit runs END too: "found" keeps END from printing the stanza a second time.)
        function stanza_end() {
            if (!found && uris != "" && suites ~ /(^| )bookworm( |$)/) {
                print uris; found = 1; exit
            }
            uris = ""; suites = ""
        }
        FNR == 1 { stanza_end() }
        /^[[:space:]]*$/ { stanza_end(); next }
        /^URIs:/ { uris = $2 }
        /^Suites:/ { suites = substr($0, 8) }
        END { stanza_end() }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    if [ -z "$found" ] && [ -f /etc/apt/sources.list ]; then
        found=$(sed 's/\[[^]]*\]//' /etc/apt/sources.list \
            | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
    fi
    [ -n "$found" ] || { echo "no Debian bookworm source in /etc/apt" >&2; return 1; }
    echo "$found"
}
