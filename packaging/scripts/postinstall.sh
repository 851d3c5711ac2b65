#!/bin/sh
# After the files land. deb postinst: configure [OLD-VERSION], where
# OLD-VERSION is set on an upgrade, or abort-*; rpm %post: $1 is 1 on
# install, 2 or more on upgrade.
set -e
case "$1" in
  configure) upgrade=${2:+yes} ;;
  1) upgrade= ;;
  [0-9]*) upgrade=yes ;;
  *) exit 0 ;;
esac
# DPKG_ROOT is set (by dpkg) when installing into another root; there is no
# service manager of ours to talk to then.
if [ -d "${DPKG_ROOT:-}/run/systemd/system" ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if [ -n "$upgrade" ]; then
    # The new binary takes over a running service; a stopped one stays
    # stopped.
    systemctl try-restart tc-credd.service || true
  fi
fi
if [ -n "$upgrade" ]; then
  exit 0
fi
cat <<'EOT'
tc-credd installed. To set it up:
  1. Put the Taskcluster access token in /etc/tc-credd/access-token, readable
     by root and the tc-credd group only (paste the token, then Ctrl-D):
       install -m 0640 -o root -g tc-credd /dev/stdin /etc/tc-credd/access-token
  2. Edit /etc/tc-credd/config.yml, then run
       tc-credd check --config /etc/tc-credd/config.yml
  3. systemctl enable --now tc-credd
Consumers read the local token /run/tc-credd/token: add their users to the
group tc-credd-clients (usermod -aG tc-credd-clients USER). Never add them to
the group tc-credd, which reads the access token.
EOT
