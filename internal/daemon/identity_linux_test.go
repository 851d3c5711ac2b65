//go:build linux

package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/identity/identitytest"
	"github.com/taskcluster/tc-credd/internal/status"
)

// TestMain lets a test run this binary as a client under another uid.
func TestMain(m *testing.M) {
	identitytest.RunClientIfAsked()
	os.Exit(m.Run())
}

// Two users on one host: a source allowed to uid A is served to A over
// IMDS, the container endpoint, the JSON API and the Unix socket, and
// refused to B with 403; B's role listing shows the source open to all
// instead. The audit trail, the status page and the metrics name A.
func TestCallerPolicyAcrossUsers(t *testing.T) {
	identitytest.Skip(t)
	const uidA, uidB = 41001, 41002
	exe := identitytest.Executable(t)
	sock := filepath.Join(identitytest.SharedDir(t), "api.sock")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	f := start(t, fmt.Sprintf(`opsListen: 127.0.0.1:0
unixSocket: %s
audit: {file: %s}
aws:
  - name: a-only
    bucket: my-bucket
    level: read-only
    allow: {uids: [%d]}
  - name: open
    bucket: my-bucket
    level: read-only
`, sock, auditFile, uidA))
	tokBytes, err := os.ReadFile(f.addrs.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokBytes))
	base := "http://" + f.addrs.Listen
	imds := map[string]string{"X-aws-ec2-metadata-token": "{imds}"}
	tcpReqs := []identitytest.Request{
		{Method: "PUT", URL: base + "/latest/api/token", Headers: map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}},
		{Method: "GET", URL: base + "/latest/meta-data/iam/security-credentials/", Headers: imds},
		{Method: "GET", URL: base + "/latest/meta-data/iam/security-credentials/a-only", Headers: imds},
		// The container endpoint (the raw token, as the AWS SDKs send it),
		// then the JSON API (Bearer).
		{Method: "GET", URL: base + "/v1/credentials/aws/a-only", Headers: map[string]string{"Authorization": token}},
		{Method: "GET", URL: base + "/v1/credentials/aws/a-only", Headers: map[string]string{"Authorization": "Bearer " + token}},
	}
	unixReqs := []identitytest.Request{{Method: "GET", URL: "http://tc-credd/v1/credentials/aws/a-only", Headers: map[string]string{"Authorization": token}}}
	run := func(uid uint32, unixPath string, reqs []identitytest.Request) identitytest.Result {
		t.Helper()
		return identitytest.Run(t, exe, uid, unixPath, reqs...)
	}

	a := run(uidA, "", tcpReqs)
	if fmt.Sprint(a.Statuses) != "[200 200 200 200 200]" || a.Bodies[1] != "a-only" {
		t.Fatalf("uid A over TCP: %v %q", a.Statuses, a.Bodies)
	}
	var doc struct{ AccessKeyId string }
	if err := json.Unmarshal([]byte(a.Bodies[2]), &doc); err != nil || doc.AccessKeyId == "" {
		t.Fatalf("IMDS document: %q %v", a.Bodies[2], err)
	}
	b := run(uidB, "", tcpReqs)
	if fmt.Sprint(b.Statuses) != "[200 200 403 403 403]" || b.Bodies[1] != "open" {
		t.Fatalf("uid B over TCP: %v %q", b.Statuses, b.Bodies)
	}
	for _, body := range b.Bodies[2:] {
		if !strings.Contains(body, "aws[0].allow") || !strings.Contains(body, fmt.Sprintf("uid %d", uidB)) || strings.Contains(body, doc.AccessKeyId) {
			t.Errorf("B's refusal does not name the rule and the caller: %q", body)
		}
	}
	au := run(uidA, sock, unixReqs)
	bu := run(uidB, sock, unixReqs)
	if fmt.Sprint(au.Statuses, bu.Statuses) != "[200] [403]" {
		t.Fatalf("over the Unix socket: A %v %q, B %v %q", au.Statuses, au.Bodies, bu.Statuses, bu.Bodies)
	}

	// The audit file names A's uid, pid and executable with the key it got.
	events := readAudit(t, auditFile)
	find := func(outcome, protocol string, uid, pid int, via string) *audit.Event {
		for i, e := range events {
			if e.Outcome == outcome && e.Protocol == protocol && e.Source == "aws/a-only" && e.Caller != nil &&
				e.Caller.UID == uid && e.Caller.PID == pid && e.Caller.Exe == exe && e.Caller.Via == via {
				return &events[i]
			}
		}
		t.Fatalf("no %s %s event for uid %d pid %d %s via %s in %+v", outcome, protocol, uid, pid, exe, via, events)
		return nil
	}
	if e := find(audit.Served, audit.IMDS, uidA, a.PID, "tcp"); e.Credential != doc.AccessKeyId || e.Expires.IsZero() || e.Caller.GID != uidA {
		t.Errorf("IMDS hand-out: %+v", e)
	}
	find(audit.Served, audit.API, uidA, a.PID, "tcp")
	find(audit.Served, audit.API, uidA, au.PID, "unix")
	if e := find(audit.Refused, audit.IMDS, uidB, b.PID, "tcp"); !strings.Contains(e.Reason, "aws[0].allow") || e.Credential != "" {
		t.Errorf("IMDS refusal: %+v", e)
	}
	find(audit.Refused, audit.API, uidB, bu.PID, "unix")

	// The status page says who received the source; the metrics count it.
	var st struct {
		Receivers map[string][]status.Receiver `json:"receivers"`
	}
	getJSON(t, "http://"+f.addrs.OpsListen+"/v1/status", &st)
	recv := st.Receivers["aws/a-only"]
	if len(recv) != 1 || recv[0].UID != uidA || recv[0].Exe != exe || recv[0].Count != 4 {
		t.Errorf("receivers of aws/a-only: %+v", recv)
	}
	_, metrics := get(t, "http://"+f.addrs.OpsListen+"/metrics", nil)
	for _, want := range []string{
		`tc_credd_handouts_total{outcome="served",protocol="api",source="aws/a-only"} 3`,
		`tc_credd_handouts_total{outcome="refused",protocol="api",source="aws/a-only"} 3`,
		`tc_credd_handouts_total{outcome="served",protocol="imds",source="aws/a-only"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func readAudit(t *testing.T, path string) []audit.Event {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if st, _ := fh.Stat(); st.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v", st.Mode())
	}
	var out []audit.Event
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if _, body := get(t, url, nil); json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("%s: %q", url, body)
	}
}

// A reload applies new rules on every listener, the Unix socket's too.
func TestReloadAppliesRules(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	rule := func(uid int) string { return fmt.Sprintf("    allow: {uids: [%d]}\nunixSocket: %s\n", uid, sock) }
	f := start(t, rule(os.Getuid()+1))
	tok, err := os.ReadFile(f.addrs.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": strings.TrimSpace(string(tok))}
	unixClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	both := func() (int, int) {
		tcp, _ := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/app", auth)
		req, _ := http.NewRequest("GET", "http://tc-credd/v1/credentials/sentry/app", nil)
		req.Header.Set("Authorization", auth["Authorization"])
		resp, err := unixClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return tcp, resp.StatusCode
	}
	if tcp, unix := both(); tcp != http.StatusForbidden || unix != http.StatusForbidden {
		t.Fatalf("before the reload: tcp %d, unix %d", tcp, unix)
	}
	f.write(f.config(rule(os.Getuid())))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	if tcp, unix := both(); tcp != http.StatusOK || unix != http.StatusOK {
		t.Fatalf("after the reload: tcp %d, unix %d", tcp, unix)
	}
}
