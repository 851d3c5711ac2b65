#!/bin/sh
# After the files went. deb postrm: remove | purge | upgrade NEW-VERSION |
# ...; rpm %postun: $1 is 0 on removal, 1 or more on upgrade.
set -e
if [ -d "${DPKG_ROOT:-}/run/systemd/system" ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
case "$1" in
  remove | purge | 0) ;;
  *) exit 0 ;;
esac
# The unit keeps /run/tc-credd across restarts; once the package is gone,
# its local token and sinks go too.
rm -rf "${DPKG_ROOT:-}/run/tc-credd"
if [ "$1" != purge ]; then
  exit 0
fi
# Purge: the config, the access token and the users the package created.
rm -rf "${DPKG_ROOT:-}/etc/tc-credd"
if getent passwd tc-credd >/dev/null; then
  userdel tc-credd
fi
for g in tc-credd-clients tc-credd; do
  if getent group "$g" >/dev/null; then
    groupdel "$g"
  fi
done
