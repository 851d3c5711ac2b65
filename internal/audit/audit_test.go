package audit_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/secret"
)

func TestIdentifierNeverRevealsTheSecret(t *testing.T) {
	const tok = "ya29.a-google-access-token"
	sum := sha256.Sum256([]byte(tok))
	for _, tc := range []struct {
		c    *refresher.Credential
		want string
	}{
		{&refresher.Credential{AWS: &refresher.AWSCredential{AccessKeyID: "ASIAEXAMPLE123", SecretAccessKey: secret.New("s3cr3t")}}, "ASIAEXAMPLE123"},
		{&refresher.Credential{GCP: &refresher.GCPCredential{AccessToken: secret.New(tok)}}, "sha256:" + hex.EncodeToString(sum[:])[:8]},
		{&refresher.Credential{Azure: &refresher.AzureCredential{SAS: secret.New("sv=1&sig=abc")}}, "sha256:"},
		{&refresher.Credential{Sentry: &refresher.SentryCredential{Secret: secret.New("https://k:s@sentry.example/1")}}, "sha256:"},
		{&refresher.Credential{Websocktunnel: &refresher.WebsocktunnelCredential{Token: secret.New("a.b.c")}}, "sha256:"},
	} {
		got := audit.Identifier(tc.c)
		if !strings.HasPrefix(got, tc.want) || (strings.HasPrefix(got, "sha256:") && len(got) != len("sha256:")+8) {
			t.Errorf("Identifier = %q, want %q", got, tc.want)
		}
		if strings.Contains(got, "s3cr3t") || strings.Contains(got, tok) || strings.Contains(got, "sig=abc") {
			t.Errorf("Identifier %q reveals the secret", got)
		}
	}
	if audit.Identifier(nil) != "" {
		t.Error("a nil credential has an identifier")
	}
}

type counts map[string]int

func (c counts) ObserveHandout(source, protocol, outcome string, uid int) {
	c[fmt.Sprintf("%s %s %s %d", source, protocol, outcome, uid)]++
}

func TestRecordLogsWritesAndCounts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	// An existing file with a loose mode is made private.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	clk := clock.NewFake(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	m := counts{}
	tr, err := audit.New(audit.Options{Logger: zap.New(core), Clock: clk, Metrics: m, File: path})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	caller := &identity.Caller{Via: "tcp", UID: 1001, User: "builder", GID: 1001, PID: 42, Exe: "/usr/bin/aws", Cgroup: "/user.slice"}
	exp := clk.Now().Add(time.Hour)
	tr.Record(audit.Event{Outcome: audit.Served, Protocol: audit.IMDS, Source: "aws/build", Caller: caller, Credential: "ASIAEXAMPLE", Expires: exp})
	tr.Record(audit.Event{Outcome: audit.Refused, Protocol: audit.API, Source: "aws/build", Caller: &identity.Caller{UID: identity.Unknown, GID: identity.Unknown, Reason: "no"}, Reason: "forbidden: rule"})
	tr.SinkWritten("/etc/creds", "sentry/app", &refresher.Credential{Expires: exp, Sentry: &refresher.SentryCredential{Secret: secret.New("dsn-secret")}})

	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v %v", st.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "dsn-secret") {
		t.Fatal("a secret in the audit file")
	}
	var evs []audit.Event
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 3 || evs[0].Caller.UID != 1001 || evs[0].Caller.PID != 42 || evs[0].Caller.Exe != "/usr/bin/aws" || evs[0].Credential != "ASIAEXAMPLE" ||
		!evs[0].Expires.Equal(exp) || !evs[0].Time.Equal(clk.Now()) || evs[1].Outcome != audit.Refused || evs[1].Reason != "forbidden: rule" ||
		evs[2].Outcome != audit.Written || evs[2].Path != "/etc/creds" || !strings.HasPrefix(evs[2].Credential, "sha256:") {
		t.Fatalf("events %+v", evs)
	}
	served := logs.FilterMessage("audit: credential served").All()
	if len(served) != 1 || served[0].ContextMap()["uid"] != int64(1001) || served[0].ContextMap()["exe"] != "/usr/bin/aws" || served[0].ContextMap()["credential"] != "ASIAEXAMPLE" {
		t.Fatalf("served log lines %+v", served)
	}
	if logs.FilterMessage("audit: credential refused").Len() != 1 || logs.FilterMessage("audit: credential written").Len() != 1 {
		t.Fatalf("log: %+v", logs.All())
	}
	if m["aws/build imds served 1001"] != 1 || m["aws/build api refused -1"] != 1 || m["sentry/app sink written -1"] != 1 {
		t.Fatalf("counts %v", m)
	}
}

// Keep is for events the caller logs on a line of its own: counted and
// written, not logged again.
func TestKeepDoesNotLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	m := counts{}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	tr, err := audit.New(audit.Options{Logger: zap.New(core), Metrics: m, File: path})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.Keep(audit.Event{Outcome: audit.Served, Protocol: audit.API, Source: "sentry/app", Caller: &identity.Caller{UID: 7}})
	b, _ := os.ReadFile(path)
	if logs.Len() != 0 || m["sentry/app api served 7"] != 1 || !strings.Contains(string(b), `"source":"sentry/app"`) || len(tr.Recent()["sentry/app"]) != 1 {
		t.Fatalf("log %v, counts %v, file %q, recent %v", logs.All(), m, b, tr.Recent())
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	tr, err := audit.New(audit.Options{File: path, MaxBytes: 400, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range 20 {
		tr.Record(audit.Event{Outcome: audit.Served, Protocol: audit.GCE, Source: fmt.Sprintf("gcp/s%02d", i)})
	}
	total := 0
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 400 || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes, mode %v", p, st.Size(), st.Mode())
		}
		b, _ := os.ReadFile(p)
		total += strings.Count(string(b), "\n")
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("more files kept than Keep: %v", err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "gcp/s19") || total >= 20 {
		t.Errorf("current file %q, %d lines kept of 20", b, total)
	}
}

func TestRecentIsBoundedAndDistinct(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	tr, _ := audit.New(audit.Options{Clock: clk})
	for uid := range 15 {
		clk.Add(time.Second)
		tr.Record(audit.Event{Outcome: audit.Served, Protocol: audit.IMDS, Source: "aws/a", Caller: &identity.Caller{UID: uid, Exe: "/bin/x"}})
	}
	clk.Add(time.Second)
	tr.Record(audit.Event{Outcome: audit.Served, Protocol: audit.API, Source: "aws/a", Caller: &identity.Caller{UID: 10, Exe: "/bin/x"}})
	tr.Record(audit.Event{Outcome: audit.Refused, Protocol: audit.API, Source: "aws/a", Caller: &identity.Caller{UID: 99}})
	got := tr.Recent()["aws/a"]
	if len(got) != 10 || got[0].UID != 10 || got[0].Count != 2 || got[0].Protocol != audit.API || !got[0].Last.Equal(clk.Now()) || got[1].UID != 14 || got[9].UID != 5 {
		t.Fatalf("recent %+v", got)
	}
}

// A rotation that fails keeps the trail going in the current file: no
// event is lost, and the failure is logged.
func TestFailedRotationKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	// A rotated file to move, and a folder where it would go: the rename fails.
	if err := os.WriteFile(path+".1", []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path+".2", "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	tr, err := audit.New(audit.Options{File: path, MaxBytes: 200, Keep: 2, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range 20 {
		tr.Record(audit.Event{Outcome: audit.Served, Protocol: audit.GCE, Source: fmt.Sprintf("gcp/s%02d", i)})
	}
	b, _ := os.ReadFile(path)
	for i := range 20 {
		if !strings.Contains(string(b), fmt.Sprintf("gcp/s%02d", i)) {
			t.Errorf("event %d lost after a failed rotation:\n%s", i, b)
		}
	}
	// Logged once for the run of failures, not for every event.
	if n := logs.FilterMessageSnippet("audit file not rotated; appending to it still").Len(); n != 1 {
		t.Errorf("the failed rotation was logged %d times, want 1", n)
	}
}
