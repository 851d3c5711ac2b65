// Command tc-credd is a local credential-vending daemon for Taskcluster.
// See internal/cli for the command line.
package main

import (
	"os"

	"github.com/taskcluster/tc-credd/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
