#!/bin/sh
# Install the Debian packages presto needs (only those missing), as root or via sudo.
set -e
PKGS="build-essential pkg-config libopenblas-dev libmsgpack-dev libjansson-dev libsndfile1-dev \
libsentencepiece-dev libpng-dev clang parallel"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
