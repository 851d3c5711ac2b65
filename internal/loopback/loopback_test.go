package loopback_test

import (
	"testing"

	"github.com/taskcluster/tc-credd/internal/loopback"
)

func TestHostAndPeer(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true, "[::1]": true,
		"0.0.0.0": false, "": false, "192.0.2.1": false, "example.com": false, "::": false,
	} {
		if got := loopback.Host(host); got != want {
			t.Errorf("Host(%q) = %v, want %v", host, got, want)
		}
	}
	for remote, want := range map[string]bool{
		"127.0.0.1:5555": true, "[::1]:80": true, "[::ffff:127.0.0.1]:80": true, "127.0.0.1": true,
		"192.0.2.10:4567": false, "[2001:db8::1]:80": false, "garbage": false,
	} {
		if got := loopback.Peer(remote); got != want {
			t.Errorf("Peer(%q) = %v, want %v", remote, got, want)
		}
	}
}
