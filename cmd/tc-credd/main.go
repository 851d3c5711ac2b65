// Command tc-credd is a local credential-vending daemon for Taskcluster.
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("tc-credd", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: tc-credd version")
	os.Exit(2)
}
