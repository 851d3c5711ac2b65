// Package audit records who received which credential, and who was
// refused: one event per hand-out over any protocol, per sink write and
// per refusal, to the log and, when configured, to a JSON-lines file. An
// event names the credential by a non-secret identifier only.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

// Outcomes.
const (
	Served  = "served"
	Refused = "refused"
	Written = "written" // by a sink, to a file
)

// Protocols, besides the sinks'.
const (
	IMDS = "imds"
	GCE  = "gce"
	API  = "api" // the JSON API and AWS container credentials
	Sink = "sink"
	// Proxy is a request signed and forwarded for a caller; its source is
	// "proxy", its path names the service.
	Proxy = "proxy"
)

// Event is one hand-out or refusal.
type Event struct {
	Time     time.Time        `json:"time"`
	Outcome  string           `json:"outcome"`
	Protocol string           `json:"protocol"`
	Source   string           `json:"source"`
	Caller   *identity.Caller `json:"caller,omitempty"`
	// Credential identifies what was handed out without revealing it: an
	// AWS AccessKeyId (which CloudTrail logs too), or "sha256:" and the
	// first 8 hex digits of the secret's SHA-256.
	Credential string    `json:"credential,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
	Reason     string    `json:"reason,omitempty"` // why it was refused
	Path       string    `json:"path,omitempty"`   // the file a sink wrote, the path a proxied request went to
	Method     string    `json:"method,omitempty"` // of a proxied request
	Status     int       `json:"status,omitempty"` // Taskcluster's answer to a proxied request
}

// Identifier names a credential without revealing it.
func Identifier(c *refresher.Credential) string {
	var s string
	switch {
	case c == nil:
		return ""
	case c.AWS != nil:
		return c.AWS.AccessKeyID
	case c.GCP != nil:
		s = c.GCP.AccessToken.Reveal()
	case c.Azure != nil:
		s = c.Azure.SAS.Reveal()
	case c.Sentry != nil:
		s = c.Sentry.Secret.Reveal()
	case c.Websocktunnel != nil:
		s = c.Websocktunnel.Token.Reveal()
	case c.GitHub != nil:
		s = c.GitHub.Token.Reveal()
	}
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:4])
}

// Counter counts events in the metrics. uid is identity.Unknown when the
// caller is unknown or the event is a sink's.
type Counter interface {
	ObserveHandout(source, protocol, outcome string, uid int)
}

// Options configure a Trail.
type Options struct {
	Logger  *zap.Logger
	Clock   clock.Clock
	Metrics Counter // optional
	// File is the JSON-lines file; "" writes events to the log only.
	File string
	// MaxBytes rotates the file once it would grow past it (default 10 MiB);
	// Keep rotated files are kept (default 5), as File.1 (newest) to File.Keep.
	MaxBytes int64
	Keep     int
}

// DefaultMaxBytes and DefaultKeep apply when Options leave them zero.
const (
	DefaultMaxBytes = 10 << 20
	DefaultKeep     = 5
	// recentPerSource bounds the callers remembered per source.
	recentPerSource = 10
)

// Trail is the audit trail. It is safe for concurrent use.
type Trail struct {
	o    Options
	mu   sync.Mutex
	f    *os.File
	size int64
	// rotateAt is the size that triggers the next rotation: past MaxBytes
	// after a failed one, so that a rotation that cannot succeed is tried
	// once per MaxBytes written, not for every event.
	rotateAt int64
	recent   map[string][]status.Receiver
}

// New opens the trail's file, if any, for appending, mode 0600.
func New(o Options) (*Trail, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	t := &Trail{o: o, recent: map[string][]status.Receiver{}}
	if o.File != "" {
		if err := t.open(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Trail) open() error {
	f, err := os.OpenFile(t.o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	// An existing file keeps its mode on open: make it private all the same.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit file: %w", err)
	}
	t.f, t.size = f, st.Size()
	return nil
}

// Close closes the file.
func (t *Trail) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

// Record logs, counts and keeps one event. A file that cannot be written
// is an error in the log, not a refusal: callers are already being served.
func (t *Trail) Record(e Event) {
	t.o.Logger.Info("audit: credential "+e.Outcome, zap.Inline(&e))
	t.Keep(e)
}

// Keep counts and keeps an event that its caller logged itself, on a line
// of its own (the credential listeners log it on the request's access-log
// line: one line per request, not two).
func (t *Trail) Keep(e Event) {
	if e.Time.IsZero() {
		e.Time = t.o.Clock.Now()
	}
	e.Time = e.Time.UTC()
	uid := identity.Unknown
	if e.Caller.Known() {
		uid = e.Caller.UID
	}
	if t.o.Metrics != nil {
		t.o.Metrics.ObserveHandout(e.Source, e.Protocol, e.Outcome, uid)
	}
	if e.Outcome == Served {
		t.mu.Lock()
		t.remember(&e)
		t.mu.Unlock()
	}
	if t.o.File == "" {
		return
	}
	line, err := json.Marshal(e)
	if err != nil {
		t.o.Logger.Error("audit event not encoded", zap.Error(err))
		return
	}
	line = append(line, '\n')
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		// The file could not be opened again after a failure: try once
		// more for every event, so the trail resumes when it can.
		if err := t.open(); err != nil {
			t.o.Logger.Error("audit event not written: the audit file cannot be opened", zap.String(logging.KeyPath, t.o.File), zap.Error(err))
			return
		}
	}
	if t.size > 0 && t.size+int64(len(line)) > max(t.rotateAt, t.o.MaxBytes) {
		if err := t.rotate(); err != nil {
			if t.rotateAt == 0 {
				t.o.Logger.Error("audit file not rotated; appending to it still, and trying again every time it grows by the size limit", zap.String(logging.KeyPath, t.o.File), zap.Error(err))
			}
			t.rotateAt = t.size + t.o.MaxBytes
		} else {
			t.rotateAt = 0
		}
		if t.f == nil {
			t.o.Logger.Error("audit event not written: the audit file cannot be opened", zap.String(logging.KeyPath, t.o.File))
			return
		}
	}
	n, err := t.f.Write(line)
	t.size += int64(n)
	if err != nil {
		t.o.Logger.Error("audit event not written to the audit file", zap.String(logging.KeyPath, t.o.File), zap.Error(err))
	}
}

// rotate moves File to File.1, File.1 to File.2 and so on, dropping the
// oldest, then starts a new File.
func (t *Trail) rotate() error {
	if err := t.f.Close(); err != nil {
		return err
	}
	t.f = nil
	for i := t.o.Keep - 1; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", t.o.File, i)
		if err := os.Rename(from, fmt.Sprintf("%s.%d", t.o.File, i+1)); err != nil && !os.IsNotExist(err) {
			// Keep appending to the current file rather than lose events.
			_ = t.open()
			return err
		}
	}
	if err := os.Rename(t.o.File, t.o.File+".1"); err != nil {
		_ = t.open()
		return err
	}
	return t.open()
}

// MarshalLogObject writes the event's log fields; its time is the log
// line's own. Passed with zap.Inline, the fields join a request's
// access-log line without a slice of fields being built for them.
func (e *Event) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("outcome", e.Outcome)
	enc.AddString("protocol", e.Protocol)
	enc.AddString(logging.KeySource, e.Source)
	if c := e.Caller; c != nil {
		enc.AddInt64("uid", int64(c.UID))
		if c.User != "" {
			enc.AddString("user", c.User)
		}
		if c.GID != identity.Unknown {
			enc.AddInt64("gid", int64(c.GID))
		}
		if c.PID > 0 {
			enc.AddInt64("pid", int64(c.PID))
		}
		if c.Exe != "" {
			enc.AddString("exe", c.Exe)
		}
		if c.Cgroup != "" {
			enc.AddString("cgroup", c.Cgroup)
		}
		if c.Reason != "" {
			enc.AddString("callerUnknown", c.Reason)
		}
	}
	if e.Credential != "" {
		enc.AddString("credential", e.Credential)
	}
	if !e.Expires.IsZero() {
		enc.AddTime(logging.KeyExpires, e.Expires)
	}
	if e.Reason != "" {
		enc.AddString("reason", e.Reason)
	}
	if e.Path != "" {
		enc.AddString(logging.KeyPath, e.Path)
	}
	if e.Method != "" {
		enc.AddString(logging.KeyMethod, e.Method)
		enc.AddInt64(logging.KeyStatus, int64(e.Status))
	}
	return nil
}

// remember keeps the callers that received a source most recently,
// distinct by uid and executable, newest first. It moves entries within
// the list rather than building a new one: it runs on every hand-out.
func (t *Trail) remember(e *Event) {
	r := status.Receiver{UID: identity.Unknown, Protocol: e.Protocol, Last: e.Time, Count: 1}
	if c := e.Caller; c != nil {
		r.UID, r.User, r.PID, r.Exe, r.Cgroup = c.UID, c.User, c.PID, c.Exe, c.Cgroup
	}
	list := t.recent[e.Source]
	at := len(list)
	for i := range list {
		if list[i].UID == r.UID && list[i].Exe == r.Exe {
			r.Count += list[i].Count
			at = i
			break
		}
	}
	if at == len(list) {
		if len(list) < recentPerSource {
			list = append(list, status.Receiver{})
		}
		at = len(list) - 1
	}
	copy(list[1:at+1], list[:at])
	list[0] = r
	t.recent[e.Source] = list
}

// Recent returns, per source key, the callers that received it most
// recently, newest first.
func (t *Trail) Recent() map[string][]status.Receiver {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string][]status.Receiver, len(t.recent))
	for k, v := range t.recent {
		out[k] = append([]status.Receiver(nil), v...)
	}
	return out
}

// SinkWritten is the hook a sink runner calls after it wrote a source's
// credential to a file: the sink's audit event.
func (t *Trail) SinkWritten(path, source string, c *refresher.Credential) {
	e := Event{Outcome: Written, Protocol: Sink, Source: source, Path: path, Credential: Identifier(c)}
	if c != nil {
		e.Expires = c.Expires
	}
	t.Record(e)
}
