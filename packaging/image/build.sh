#!/bin/sh
# Builds tc-credd's OCI image with buildah, without a Docker daemon:
#   BIN=path/to/static/tc-credd IMAGE=name [VERSION=v] [BUILDAH=buildah] build.sh
# The image holds the binary, the CA bundle (the Auth service is HTTPS),
# /etc/passwd and /etc/group naming the non-root user, /tmp, and
# /run/tc-credd for the local token. As under systemd, the daemon runs as
# tc-credd (65532) with tc-credd-clients (65533) as its group, so the token
# file it creates is readable by consumers given that group.
set -eu
: "${BIN:?the static binary}" "${IMAGE:?the image name}"
here=$(dirname "$0")
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" "$ctx/run/tc-credd"
install -m 0755 "$BIN" "$ctx/rootfs/usr/bin/tc-credd"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
install -m 0644 "$here/passwd" "$here/group" "$ctx/rootfs/etc/"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0750 "$ctx/run/tc-credd"
${BUILDAH:-buildah} bud --isolation chroot --timestamp 0 \
  --label org.opencontainers.image.version="${VERSION:-dev}" \
  --label org.opencontainers.image.licenses=MPL-2.0 \
  -f "$here/Containerfile" -t "$IMAGE:latest" "$ctx"
