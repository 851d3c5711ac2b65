// Package unit holds tc-credd's systemd unit: the packages ship the file
// and `tc-credd install` writes the same text, so there is one unit.
package unit

import (
	_ "embed"
	"strings"
)

// Systemd is the hardened unit the packages install as
// /lib/systemd/system/tc-credd.service.
//
//go:embed tc-credd.service
var Systemd string

// packagedExecStart is the unit's command line as the packages install it.
const packagedExecStart = "ExecStart=/usr/bin/tc-credd run --config /etc/tc-credd/config.yml\n"

// ServiceTemplate is Systemd as a kardianos/service template: the same unit
// with the command line of the executable and arguments being installed.
func ServiceTemplate() string {
	return strings.Replace(Systemd, packagedExecStart, "ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}\n", 1)
}

// CreateUsers is the shell script that creates the user tc-credd, its
// group tc-credd and the consumers' group tc-credd-clients, unless they
// exist: the packages' pre-install script.
//
//go:embed preinstall.sh
var CreateUsers string
