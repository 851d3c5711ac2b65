package sink_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/sink"
)

var (
	sentrySrc = refresher.Source{Kind: refresher.Sentry, Name: "app", Project: "my-project"}
	awsSrc    = refresher.Source{Kind: refresher.AWS, Name: "artifacts", Level: "read-only", Bucket: "my-bucket", Prefix: "a/"}
)

type env struct {
	clk  *clock.Fake
	fake *authtest.Server
	r    *refresher.Refresher
	logs *observer.ObservedLogs
}

func start(t *testing.T, sinks []sink.Sink) (*env, *sink.Runner) {
	t.Helper()
	return startAudited(t, sinks, nil)
}

// startAudited is start with an auditor told of every write.
func startAudited(t *testing.T, sinks []sink.Sink, a sink.Auditor) (*env, *sink.Runner) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	fake := authtest.New(authtest.Options{Now: clk.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tok := fake.AddClient("c", "auth:sentry:*", "auth:aws-s3:*")
	ac, _ := authclient.New(authclient.Options{RootURL: srv.URL, Credentials: &hawk.Credentials{ClientID: "c", AccessToken: tok}, Now: clk.Now, Retries: -1})
	core, logs := observer.New(zap.InfoLevel)
	r := refresher.New(refresher.Options{Fetcher: refresher.AuthFetcher{Client: ac}, Clock: clk, Logger: zap.New(core)})
	if err := r.Set([]refresher.Source{sentrySrc, awsSrc}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = r.Run(ctx); done <- struct{}{} }()
	if err := r.WaitFirstRound(ctx); err != nil || !r.Ready() {
		t.Fatalf("refresher not ready: %v", err)
	}
	run := sink.NewRunner(r, zap.New(core), clk)
	if a != nil {
		run.AuditWith(a)
	}
	go func() { run.Run(ctx, sinks); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &env{clk: clk, fake: fake, r: r, logs: logs}, run
}

// waitFor polls cond until it holds, failing after 10 s with what it
// waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

func read(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestSinksWriteOnChangeOnly(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, "sentry.env")
	profPath := filepath.Join(dir, "aws")
	runs := filepath.Join(dir, "runs")
	sinks := []sink.Sink{
		{Source: sentrySrc, Path: envPath, Format: sink.Env,
			Command: []string{"sh", "-c", `echo "$TC_CREDD_SOURCE" >> ` + runs}},
		{Source: awsSrc, Path: profPath, Format: sink.AWSCredentials, Profile: "ci", Mode: 0o640},
	}
	e, run := start(t, sinks)
	waitFor(t, "both sinks", func() bool { return read(envPath) != "" && read(profPath) != "" && read(runs) != "" })
	dsn := e.fake.Issued("sentryDSN")[0].Reveal()
	if got := read(envPath); !strings.Contains(got, "SENTRY_DSN='"+dsn+"'\n") {
		t.Fatalf("env sink = %q", got)
	}
	key := e.fake.Issued("awsS3Credentials")[0].Reveal()
	if got := read(profPath); !strings.HasPrefix(got, "[ci]\naws_access_key_id = "+key+"\n") {
		t.Fatalf("profile sink = %q", got)
	}
	for path, mode := range map[string]os.FileMode{envPath: 0o600, profPath: 0o640} {
		st, _ := os.Stat(path)
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", path, st.Mode().Perm(), mode)
		}
	}
	if read(runs) != "sentry/app\n" {
		t.Fatalf("command runs = %q, want one", read(runs))
	}
	// The same credential again (a reload with the same sinks): no write, no command.
	st1, _ := os.Stat(envPath)
	run.Set(sinks)
	waitFor(t, "reload handled", func() bool { return e.logs.FilterMessage("sink written").Len() >= 2 })
	// Renewal of the sentry DSN (24 h margin on a 48 h credential), once
	// both source loops sleep on the clock.
	for {
		changed := e.clk.Changed()
		if e.clk.Waiters() >= 2 {
			break
		}
		<-changed
	}
	e.clk.Add(25 * time.Hour)
	waitFor(t, "renewed DSN in the file", func() bool {
		issued := e.fake.Issued("sentryDSN")
		return len(issued) > 1 && strings.Contains(read(envPath), issued[len(issued)-1].Reveal()) && strings.Count(read(runs), "\n") >= 2
	})
	if read(runs) != "sentry/app\nsentry/app\n" {
		t.Fatalf("command runs = %q, want two (start, renewal)", read(runs))
	}
	// The jump renewed the AWS keys too; let that write land before
	// looking for leftovers.
	waitFor(t, "renewed AWS keys in the profile", func() bool {
		issued := e.fake.Issued("awsS3Credentials")
		return len(issued) > 1 && strings.Contains(read(profPath), issued[len(issued)-1].Reveal())
	})
	st2, _ := os.Stat(envPath)
	if os.SameFile(st1, st2) {
		t.Error("the file was rewritten in place, not replaced")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestSinkFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(good, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := template.Must(template.New("t").Option("missingkey=error").Parse("{{.NoSuchField}}"))
	e, _ := start(t, []sink.Sink{
		{Source: sentrySrc, Path: good, Format: sink.Template, Template: bad},
		{Source: sentrySrc, Path: filepath.Join(dir, "missing", "x"), Format: sink.JSON},
	})
	waitFor(t, "two failures logged", func() bool { return e.logs.FilterMessage("sink failed; the previous file is kept").Len() == 2 })
	if read(good) != "previous" {
		t.Fatalf("failed render touched the file: %q", read(good))
	}
	for _, l := range e.logs.All() {
		for _, v := range l.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "https://") {
				t.Errorf("a log line carries a DSN: %v", l.ContextMap())
			}
		}
	}
}

func TestJSONAndTemplateSinks(t *testing.T) {
	dir := t.TempDir()
	jsonPath, tplPath := filepath.Join(dir, "aws.json"), filepath.Join(dir, "aws.tpl")
	tpl := template.Must(template.New("t").Parse("{{.AccessKeyID}} {{.Expires.Unix}}"))
	e, _ := start(t, []sink.Sink{
		{Source: awsSrc, Path: jsonPath, Format: sink.JSON},
		{Source: awsSrc, Path: tplPath, Format: sink.Template, Template: tpl},
	})
	waitFor(t, "files", func() bool { return read(jsonPath) != "" && read(tplPath) != "" })
	c := e.r.Current(awsSrc.Key())
	if !strings.Contains(read(jsonPath), `"SecretAccessKey": "`+c.AWS.SecretAccessKey.Reveal()+`"`) {
		t.Errorf("json sink = %s", read(jsonPath))
	}
	if read(tplPath) != c.AWS.AccessKeyID+" "+strconv.FormatInt(c.Expires.Unix(), 10) {
		t.Errorf("template sink = %q", read(tplPath))
	}
}

func TestSinkIntoMissingFolderHeals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "later", "sentry.env")
	e, run := start(t, []sink.Sink{{Source: sentrySrc, Path: path, Format: sink.Env}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(run)
	waitFor(t, "the failed write in the sink's state", func() bool { return len(run.States()) == 1 && run.States()[0].LastError != "" })
	st := run.States()[0]
	if !st.LastWrite.IsZero() || st.Source != sentrySrc.Key() || st.Path != path || !strings.Contains(st.LastError, "later") {
		t.Fatalf("state of a sink into a missing folder: %+v", st)
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// The first retry comes RetryBase after the failure; nothing else
	// moves the clock, and no credential changes meanwhile.
	e.clk.Add(sink.RetryBase)
	waitFor(t, "the file once its folder exists", func() bool { return read(path) != "" })
	waitFor(t, "the write in the sink's state", func() bool { return !run.States()[0].LastWrite.IsZero() })
	st = run.States()[0]
	if st.LastError != "" || st.Writes != 1 || st.Failures != 1 {
		t.Fatalf("state after healing: %+v", st)
	}
	want := map[string]float64{"written": 1, "failed": 1}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v %d", err, len(mfs))
	}
	for _, m := range mfs[0].Metric {
		var outcome, name string
		for _, l := range m.Label {
			switch l.GetName() {
			case "outcome":
				outcome = l.GetValue()
			case "sink":
				name = l.GetValue()
			}
		}
		if name != path || m.Counter.GetValue() != want[outcome] {
			t.Errorf("tc_credd_sink_writes_total{sink=%q,outcome=%q} = %v", name, outcome, m.Counter.GetValue())
		}
	}
}

func TestCheckFolder(t *testing.T) {
	dir := t.TempDir()
	if err := sink.CheckFolder(filepath.Join(dir, "x")); err != nil {
		t.Errorf("writable folder: %v", err)
	}
	if err := sink.CheckFolder(filepath.Join(dir, "missing", "x")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("the check left %d files behind", len(entries))
	}
}

// recorder is an Auditor that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	writes []string
	creds  []*refresher.Credential
}

func (a *recorder) SinkWritten(path, source string, c *refresher.Credential) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes = append(a.writes, source+" "+path)
	a.creds = append(a.creds, c)
}

func (a *recorder) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.writes)
}

// Every file a sink writes is told to the auditor, with the credential
// written; a file already current is not written, so not told.
func TestWritesAreAudited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sentry.env")
	a := &recorder{}
	e, run := startAudited(t, []sink.Sink{{Source: sentrySrc, Path: path, Format: sink.Env}}, a)
	waitFor(t, "the first write's audit", func() bool { return a.count() == 1 })
	if a.writes[0] != sentrySrc.Key()+" "+path || a.creds[0] != e.r.Current(sentrySrc.Key()) {
		t.Fatalf("audited %q with another credential than the one written", a.writes)
	}
	// A reload a second later finds the file current: its state says so at
	// the new time.
	e.clk.Add(time.Second)
	run.Set([]sink.Sink{{Source: sentrySrc, Path: path, Format: sink.Env}})
	waitFor(t, "the reloaded sink found current", func() bool {
		return len(run.States()) == 1 && run.States()[0].LastWrite.Equal(e.clk.Now())
	})
	if n := a.count(); n != 1 {
		t.Fatalf("%d audit events after a reload that wrote nothing, want 1", n)
	}
}

// A command that fails after its file was written runs again at the
// retry, although the file is then current; the sink is healthy only once
// it has succeeded, and the write was audited all the same.
func TestFailedCommandRunsAgain(t *testing.T) {
	dir := t.TempDir()
	path, flag, done := filepath.Join(dir, "sentry.env"), filepath.Join(dir, "flag"), filepath.Join(dir, "done")
	a := &recorder{}
	e, run := startAudited(t, []sink.Sink{{Source: sentrySrc, Path: path, Format: sink.Env,
		Command: []string{"sh", "-c", "test -e " + flag + " && touch " + done}}}, a)
	waitFor(t, "the failed command in the sink's state", func() bool {
		return len(run.States()) == 1 && strings.Contains(run.States()[0].LastError, "command sh")
	})
	if read(path) == "" || a.count() != 1 {
		t.Fatalf("the file was not written, or its write not audited (%d events)", a.count())
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(sink.RetryBase)
	waitFor(t, "the command run again at the retry", func() bool { return fileExists(done) })
	waitFor(t, "the sink healthy", func() bool { return run.States()[0].LastError == "" })
	if st := run.States()[0]; st.Writes != 1 {
		t.Fatalf("the retry rewrote a current file: %+v", st)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
