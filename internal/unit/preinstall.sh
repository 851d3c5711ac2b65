#!/bin/sh
# Creates the unit's user and groups. The packages run it before their
# files land (deb preinst: install | upgrade OLD-VERSION; rpm %pre: $1 is 1
# on install, 2 or more on upgrade); `tc-credd install` runs it too.
#
# Two groups, least privilege: the user tc-credd and its group tc-credd
# alone (with root) read /etc/tc-credd, where the config and the Taskcluster
# access token live; consumers join tc-credd-clients, which can read the
# local token file and nothing else.
set -e
if ! getent group tc-credd >/dev/null; then
  groupadd --system tc-credd
fi
if ! getent group tc-credd-clients >/dev/null; then
  groupadd --system tc-credd-clients
fi
if ! getent passwd tc-credd >/dev/null; then
  useradd --system --gid tc-credd --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "tc-credd daemon" tc-credd
fi
