#!/bin/sh
# Create the tc-credd system user and group before files land.
set -e
if ! getent group tc-credd >/dev/null; then
  groupadd --system tc-credd
fi
if ! getent passwd tc-credd >/dev/null; then
  useradd --system --gid tc-credd --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "tc-credd daemon" tc-credd
fi
