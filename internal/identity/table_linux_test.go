//go:build linux

package identity

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// A socket table entry with inode 0 (TIME_WAIT and the like) shows uid 0:
// it must never make a closed socket look like root's.
func TestScanTableSkipsOwnerlessEntries(t *testing.T) {
	peer := encode(netip.MustParseAddrPort("127.0.0.1:40000"))
	us := encode(netip.MustParseAddrPort("127.0.0.1:8765"))
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: " + peer + " " + us + " 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3 0000000000000000\n"
	path := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	if uid, inode, ok := scanTable(path, peer, us); ok {
		t.Fatalf("an ownerless entry matched: uid %d inode %d", uid, inode)
	}
	table += "   1: " + peer + " " + us + " 01 00000000:00000000 00:00000000 00000000  1001        0 4242 1 0000000000000000 20 4 30 10 -1\n"
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	if uid, inode, ok := scanTable(path, peer, us); !ok || uid != 1001 || inode != 4242 {
		t.Fatalf("the live entry: uid %d inode %d ok %v", uid, inode, ok)
	}
}
