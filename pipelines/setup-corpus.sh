#!/bin/sh
# Install the Debian packages the training corpus needs (only those missing),
# as root or via sudo: MMA (MIDI accompaniment generator), FluidSynth and a
# General MIDI soundfont (rendering), GNU parallel (farming), sox
# (conversion to FLAC, checks), aubio-tools (tempo estimates).
set -e
PKGS="mma fluidsynth fluid-soundfont-gm parallel sox aubio-tools"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-corpus: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
