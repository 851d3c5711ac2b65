package metadata

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// maxIMDSTokens bounds the session-token store, so a flood of PUTs cannot
// grow memory without limit.
const maxIMDSTokens = 10000

// IMDSTokens is the IMDSv2 session-token store of one listener. Keep one
// across handler rebuilds (config reload) so open sessions stay valid.
type IMDSTokens = imdsTokens

// NewIMDSTokens returns an empty store.
func NewIMDSTokens(clk clock.Clock) *IMDSTokens { return newIMDSTokens(clk, maxIMDSTokens) }

// imdsTokens holds IMDSv2 session tokens. Tokens are 32 random bytes,
// base64url-encoded; the store is keyed by the SHA-256 of the bytes, so a
// lookup's timing says nothing about a real token. A sync.Map, because
// tokens are written once and read on every request: its reads take no
// lock, whose reader count would bounce between cores.
type imdsTokens struct {
	clk clock.Clock
	max int
	mu  sync.Mutex // serialises issue, which counts and evicts
	n   int        // tokens in m; guarded by mu
	m   sync.Map   // [32]byte → time.Time (expiry)
}

func newIMDSTokens(clk clock.Clock, max int) *imdsTokens {
	return &imdsTokens{clk: clk, max: max}
}

// newToken returns 32 random bytes and their base64url form, the shape of
// both IMDSv2 session tokens and the local token.
func newToken() ([32]byte, string) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails on supported platforms
	return raw, base64.RawURLEncoding.EncodeToString(raw[:])
}

func (t *imdsTokens) issue(ttl int) string {
	raw, tok := newToken()
	now := t.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n >= t.max {
		t.prune(now)
	}
	if t.n >= t.max {
		// Still full of live tokens: drop the one closest to expiry.
		var victim any
		var soonest time.Time
		t.m.Range(func(k, v any) bool {
			if exp := v.(time.Time); victim == nil || exp.Before(soonest) {
				victim, soonest = k, exp
			}
			return true
		})
		t.m.Delete(victim)
		t.n--
	}
	t.m.Store(sha256.Sum256(raw[:]), now.Add(time.Duration(ttl)*time.Second))
	t.n++
	return tok
}

// prune drops expired tokens; t.mu is held.
func (t *imdsTokens) prune(now time.Time) {
	t.m.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) {
			t.m.Delete(k)
			t.n--
		}
		return true
	})
}

// validAt reports whether tok was issued and has not expired at now.
func (t *imdsTokens) validAt(tok string, now time.Time) bool {
	// Decode into a stack array: the string-to-slice conversion of a
	// 43-byte token would allocate on every request. Anything that is not
	// 32 base64url bytes was never issued.
	var raw [32]byte
	if base64.RawURLEncoding.DecodedLen(len(tok)) != len(raw) {
		return false
	}
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(tok)); err != nil || n != len(raw) {
		return false
	}
	exp, ok := t.m.Load(sha256.Sum256(raw[:]))
	return ok && now.Before(exp.(time.Time))
}

// TokenChecker checks the token presented to /v1/credentials/*.
type TokenChecker interface {
	Check(presented string) bool
}

// RotationGrace is how long the previous local token stays valid after the
// file changes: SDKs re-read the file only at their next fetch.
const RotationGrace = time.Minute

// LocalToken is the token guarding the JSON API and container
// credentials, kept in a file the consumers read
// (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). It is re-read when the file
// changes.
type LocalToken struct {
	path string
	mode fs.FileMode // of a file it creates
	clk  clock.Clock
	log  *zap.Logger

	mu        sync.Mutex
	current   secret.String
	previous  secret.String
	prevUntil time.Time
	modTime   time.Time
	size      int64
}

// LoadLocalToken reads the token file, creating it with a random token and
// mode 0600 when it is missing.
func LoadLocalToken(path string, clk clock.Clock, log *zap.Logger) (*LocalToken, error) {
	return LoadLocalTokenMode(path, 0o600, clk, log)
}

// LoadLocalTokenMode is LoadLocalToken with the mode a new file gets.
func LoadLocalTokenMode(path string, mode fs.FileMode, clk clock.Clock, log *zap.Logger) (*LocalToken, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	t := &LocalToken{path: path, mode: mode, clk: clk, log: log}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := t.create(); err != nil {
			return nil, err
		}
		log.Info("created local token file", zap.String("path", path))
	}
	if _, err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// create writes a new random token to the file.
func (t *LocalToken) create() error {
	// No trailing newline: the SDKs put the file's bytes in a header.
	_, tok := newToken()
	if err := atomicfile.Write(t.path, []byte(tok), t.mode); err != nil {
		return fmt.Errorf("creating local token file: %w", err)
	}
	return nil
}

// reload re-reads the file if its size or modification time changed.
func (t *LocalToken) reload() (bool, error) {
	st, err := os.Stat(t.path)
	if err != nil {
		return false, fmt.Errorf("local token file: %w", err)
	}
	t.mu.Lock()
	same := st.ModTime().Equal(t.modTime) && st.Size() == t.size && !t.current.IsZero()
	t.mu.Unlock()
	if same {
		return false, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return false, fmt.Errorf("local token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return false, fmt.Errorf("local token file %s: token must be at least 16 characters", t.path)
	}
	for _, c := range tok {
		if c < 0x21 || c > 0x7e {
			return false, fmt.Errorf("local token file %s: token must be printable ASCII without spaces", t.path)
		}
	}
	if len(tok) != len(b) {
		t.log.Warn("local token file has surrounding whitespace; the AWS SDKs reject a trailing newline", zap.String("path", t.path))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.current.IsZero() && t.current.Reveal() != tok {
		t.previous, t.prevUntil = t.current, t.clk.Now().Add(RotationGrace)
	}
	t.current, t.modTime, t.size = secret.New(tok), st.ModTime(), st.Size()
	return true, nil
}

// Watch re-reads the file every interval until ctx ends. A deleted file
// is created again with a new token: consumers read the file, and one
// that is missing would lock them out. A file that stays unreadable is
// logged once per distinct error.
func (t *LocalToken) Watch(ctx context.Context, interval time.Duration) {
	var logged string
	for clock.Sleep(ctx, t.clk, interval) == nil {
		changed, err := t.reload()
		if errors.Is(err, fs.ErrNotExist) {
			if err = t.create(); err == nil {
				t.log.Warn("local token file was deleted; created it again with a new token", zap.String("path", t.path))
				changed, err = t.reload()
			}
		}
		switch {
		case err != nil && err.Error() != logged:
			t.log.Error("local token file unreadable; keeping the current token", zap.Error(err))
		case changed:
			t.log.Info("local token rotated", zap.String("path", t.path), zap.Duration("previousValidFor", RotationGrace))
		}
		logged = ""
		if err != nil {
			logged = err.Error()
		}
	}
}

// Check compares in constant time against the current token and, during
// the grace period, the previous one.
func (t *LocalToken) Check(presented string) bool {
	p := secret.New(presented)
	t.mu.Lock()
	cur, prev, until := t.current, t.previous, t.prevUntil
	t.mu.Unlock()
	// Evaluate both comparisons so timing does not say which one matched.
	okCur := cur.Equal(p)
	okPrev := !prev.IsZero() && prev.Equal(p) && t.clk.Now().Before(until)
	return okCur || okPrev
}

// Value returns the current token, for `tc-credd credential-process`
// running as the same user.
func (t *LocalToken) Value() secret.String {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}
