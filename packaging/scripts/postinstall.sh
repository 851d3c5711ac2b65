#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
echo "tc-credd installed. Edit /etc/tc-credd/config.yml, put the access token in /etc/tc-credd/access-token (mode 0640, group tc-credd),"
echo "run 'tc-credd check --config /etc/tc-credd/config.yml', then 'systemctl enable --now tc-credd'."
