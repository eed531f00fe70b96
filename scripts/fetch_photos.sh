#!/usr/bin/env bash
# Fetch the training photo pool from Debian packages, with no root side effects.
# Usage: scripts/fetch_photos.sh DIR   -> natural photos land in DIR/photos
# Licences per file: DIR/x/usr/share/doc/*/copyright (CC-BY-4.0, CC-BY-SA-4.0, CC0, GPL-2+).
set -euo pipefail
dest=${1:?usage: fetch_photos.sh DIR}
mkdir -p "$dest/photos" && cd "$dest"
apt-get download lomiri-wallpapers-16.04 mate-backgrounds
for deb in *.deb; do dpkg -x "$deb" x; done
# The lomiri 16.04 photos and MATE's nature set; the abstract and desktop renders are not photos.
cp x/usr/share/backgrounds/*.jpg photos/
cp x/usr/share/backgrounds/mate/nature/* photos/
echo "$(ls photos | wc -l) photos in $dest/photos"
