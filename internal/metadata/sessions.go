package metadata

import (
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/localtoken"
)

// maxIMDSSessions bounds the session store, so a flood of PUTs cannot
// grow memory without limit.
const maxIMDSSessions = 10000

// IMDSSessions holds one listener's IMDSv2 session tokens, by SHA-256, so
// a lookup's timing says nothing about a real token. At the bound the
// least recently used session goes first, in constant time: a burst of new
// sessions evicts abandoned ones, never one an SDK is using. Keep one
// store across handler rebuilds (config reload) so open sessions stay
// valid. Expiry is checked on the injected clock.
type IMDSSessions struct {
	clk   clock.Clock
	cache *lru.Cache[[sha256.Size]byte, time.Time]
}

// NewIMDSSessions returns an empty store.
func NewIMDSSessions(clk clock.Clock) *IMDSSessions { return newIMDSSessions(clk, maxIMDSSessions) }

func newIMDSSessions(clk clock.Clock, size int) *IMDSSessions {
	c, err := lru.New[[sha256.Size]byte, time.Time](size)
	if err != nil {
		panic(err) // only for a size below 1, which is a programming error
	}
	return &IMDSSessions{clk: clk, cache: c}
}

// issue opens a session of ttl seconds and returns its token.
func (s *IMDSSessions) issue(ttl int) string {
	tok := localtoken.New()
	s.cache.Add(sha256.Sum256([]byte(tok)), s.clk.Now().Add(time.Duration(ttl)*time.Second))
	return tok
}

// valid reports whether tok names a session that has not expired, and
// counts the use.
func (s *IMDSSessions) valid(tok string) bool {
	key := sha256.Sum256([]byte(tok))
	exp, ok := s.cache.Get(key)
	if !ok {
		return false
	}
	if !s.clk.Now().Before(exp) {
		s.cache.Remove(key)
		return false
	}
	return true
}
