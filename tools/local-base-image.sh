#!/usr/bin/env bash
# A copy of the team's ../shared/tools/local-base-image.sh for clones without the shared folder (.ci/run).
# Builds a local stand-in for the `python:3.11-slim` base image, so `deployment/Dockerfile` can be
# built and run for real on a machine with no Docker daemon and no access to Docker Hub.
#
#   ../shared/tools/local-base-image.sh            # once per machine (about 1-2 minutes)
#   buildah --storage-driver vfs bud --isolation chroot --pull=never -t app -f deployment/Dockerfile .
#   buildah --storage-driver vfs run --isolation chroot "$(buildah --storage-driver vfs from app)" -- <cmd>
#
# What it is: Debian bookworm (minbase) from Debian's package registry with its Python 3.11, pip,
# the machine's CA bundle (so pip and uv inside a build reach the package registry) and
# SSL_CERT_FILE set. It is not the official image: the same OS family and Python minor version, enough
# to prove the Dockerfile's layout, install and start-up. Needs root, buildah and debootstrap
# (apt-get install -y buildah debootstrap). With --isolation chroot a container shares the host's
# network: bind servers to 127.0.0.1 and pick a free port.
set -euo pipefail
NAME=${BASE_IMAGE_NAME:-localhost/python:3.11-slim}
B="buildah --storage-driver vfs"
if $B inspect --type image "$NAME" >/dev/null 2>&1; then echo "$NAME already built"; exit 0; fi
for tool in buildah debootstrap; do
  command -v $tool >/dev/null || { echo "needs $tool: apt-get update && apt-get install -y buildah debootstrap" >&2; exit 2; }
done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/rootfs" \
  http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || { tail -5 "$work/debootstrap.log" >&2; exit 1; }
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
ln -sf python3 "$work/rootfs/usr/bin/python"
rm -f "$work"/rootfs/usr/lib/python3*/EXTERNALLY-MANAGED   # as in the official image: pip installs system-wide
python3 -m pip download -q --no-deps -d "$work/wheels" pip
cp "$work"/wheels/pip-*.whl "$work/rootfs/tmp/"
c=$($B from scratch)
m=$($B mount "$c"); cp -a "$work/rootfs/." "$m/"; $B umount "$c" >/dev/null
$B run --isolation chroot "$c" -- sh -c 'w=$(ls /tmp/pip-*.whl); python "$w/pip" install -q --no-index "$w" && rm "$w"' 2>/dev/null
$B config --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env PYTHONUNBUFFERED=1 --workingdir / --cmd python3 "$c"
$B commit -q "$c" "$NAME" >/dev/null && $B rm "$c" >/dev/null
echo "built $NAME"
