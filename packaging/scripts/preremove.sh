#!/bin/sh
# Before the files go. deb prerm: remove | upgrade NEW-VERSION | ...;
# rpm %preun: $1 is 0 on removal, 1 or more on upgrade.
set -e
case "$1" in
  remove | 0) ;;
  # An upgrade keeps the service running; postinstall restarts it.
  *) exit 0 ;;
esac
if [ -d "${DPKG_ROOT:-}/run/systemd/system" ]; then
  systemctl --no-reload disable --now tc-credd.service >/dev/null 2>&1 || true
fi
