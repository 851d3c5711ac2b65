// Package localtoken keeps the token that guards tc-credd's JSON API and
// container credentials. The token lives in a file that consumers read
// (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE); tc-credd creates it when it is
// missing and follows it when an operator rotates it.
package localtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// RotationGrace is how long the previous token stays valid after the file
// changes: SDKs re-read the file only at their next fetch.
const RotationGrace = time.Minute

// New returns 32 random bytes as base64url text: header-safe, with no
// newline, because SDKs copy the file's bytes into a header as they are.
func New() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// Token is the current local token and, for RotationGrace after a change,
// the previous one.
type Token struct {
	path string
	mode fs.FileMode
	clk  clock.Clock
	log  *zap.Logger

	mu        sync.Mutex
	current   secret.String
	previous  secret.String
	prevUntil time.Time
	lastErr   string        // the last read error logged, so it is logged once
	changed   chan struct{} // closed and replaced when the token changes
}

// Load reads the token file, creating it with a new token and mode when it
// is missing.
func Load(path string, mode fs.FileMode, clk clock.Clock, log *zap.Logger) (*Token, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	t := &Token{path: path, mode: mode, clk: clk, log: log, changed: make(chan struct{})}
	if err := t.createIfMissing("created local token file"); err != nil {
		return nil, err
	}
	if _, err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// createIfMissing writes a new token when the file does not exist, and
// logs msg.
func (t *Token) createIfMissing(msg string) error {
	if _, err := os.Stat(t.path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := atomicfile.Write(t.path, []byte(New()), t.mode); err != nil {
		return fmt.Errorf("creating local token file: %w", err)
	}
	t.log.Info(msg, zap.String(logging.KeyPath, t.path))
	return nil
}

// read returns the file's token, checked.
func (t *Token) read() (string, error) {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return "", fmt.Errorf("local token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("local token file %s: token must be at least 16 characters", t.path)
	}
	for _, c := range tok {
		if c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("local token file %s: token must be printable ASCII without spaces", t.path)
		}
	}
	if len(tok) != len(b) {
		t.log.Warn("local token file has surrounding whitespace; the AWS SDKs reject a trailing newline", zap.String(logging.KeyPath, t.path))
	}
	return tok, nil
}

// reload re-reads the file and reports whether the token changed.
func (t *Token) reload() (bool, error) {
	tok, err := t.read()
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastErr = ""
	if !t.current.IsZero() && t.current.Reveal() == tok {
		return false, nil
	}
	if !t.current.IsZero() {
		t.previous, t.prevUntil = t.current, t.clk.Now().Add(RotationGrace)
	}
	t.current = secret.New(tok)
	close(t.changed)
	t.changed = make(chan struct{})
	return true, nil
}

// Changed returns a channel closed at the next change of the token.
func (t *Token) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// Watcher follows a token file: a rotated token is picked up, and a
// deleted file is written anew with a new token. It watches the folder, so
// a file replaced by rename is seen as well as one rewritten in place;
// between changes nothing runs.
type Watcher struct {
	t *Token
	w *fsnotify.Watcher
}

// Watch starts watching the file; changes from now on are followed once
// Run runs. An error means the file cannot be watched (the token then
// stays as loaded).
func (t *Token) Watch() (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching the local token file: %w", err)
	}
	if err := w.Add(filepath.Dir(t.path)); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("watching the local token file: %w", err)
	}
	return &Watcher{t: t, w: w}, nil
}

// Run follows the file until ctx ends, then stops watching.
func (w *Watcher) Run(ctx context.Context) {
	defer w.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.t.log.Warn("local token file watch", zap.Error(err))
		case _, ok := <-w.w.Events:
			if !ok {
				return
			}
			// Any change in the folder re-reads the file: a Kubernetes
			// secret is rotated by renaming the folder its symlink goes
			// through, and no event then names the file.
			w.t.sync()
		}
	}
}

// sync brings the token in line with the file after an event.
func (t *Token) sync() {
	if _, err := os.Stat(t.path); errors.Is(err, fs.ErrNotExist) {
		// Consumers cannot authenticate without the file: write a new
		// token rather than leave them locked out.
		if err := t.createIfMissing("local token file was deleted; wrote a new token (the old one is valid for the grace period)"); err != nil {
			t.logOnce(err)
			return
		}
	}
	changed, err := t.reload()
	switch {
	case err != nil:
		t.logOnce(err)
	case changed:
		t.log.Info("local token rotated", zap.String(logging.KeyPath, t.path), zap.Duration("previousValidFor", RotationGrace))
	}
}

// logOnce logs a read error unless it is the one logged last: an editor
// writing the file makes several events, each of which may see it half
// written.
func (t *Token) logOnce(err error) {
	t.mu.Lock()
	repeat := t.lastErr == err.Error()
	t.lastErr = err.Error()
	t.mu.Unlock()
	if !repeat {
		t.log.Warn("local token file unreadable; keeping the current token", zap.Error(err))
	}
}

// Check compares in constant time against the current token and, during
// the grace period, the previous one.
func (t *Token) Check(presented string) bool {
	p := secret.New(presented)
	t.mu.Lock()
	cur, prev, until := t.current, t.previous, t.prevUntil
	t.mu.Unlock()
	// Evaluate both comparisons so timing does not say which one matched.
	okCur := cur.Equal(p)
	okPrev := !prev.IsZero() && prev.Equal(p) && t.clk.Now().Before(until)
	return okCur || okPrev
}
