// Package status holds the non-secret descriptions that the daemon shows
// operators: who tc-credd is to Taskcluster. The ops listener, the metrics
// and the daemon share these types without depending on one another.
package status

import "time"

// Client describes the Taskcluster credentials tc-credd itself holds: who
// it is and, for temporary credentials, when their certificate expires.
// Nothing renews them (that is the job of whoever issued them), and once
// they expire every fetch fails, so operators need to see it coming. It
// never carries the access token.
type Client struct {
	ClientID string    `json:"clientId"`
	Expires  time.Time `json:"expires,omitzero"` // zero: permanent credentials
}

// Reload is the outcome of the last configuration reload.
type Reload struct {
	Time  time.Time `json:"time"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"` // names fields and files, never a secret
}

// Daemon describes the running daemon for the status page: which build,
// since when, and how its last reload went.
type Daemon struct {
	Version       string    `json:"version"`
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptimeSeconds"`
	LastReload    *Reload   `json:"lastReload,omitempty"`
	Client        Client    `json:"client"`
}

// Receiver is a caller that recently received a source's credential, as
// the kernel named it. UID is -1 when it could not say.
type Receiver struct {
	UID      int       `json:"uid"`
	User     string    `json:"user,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Exe      string    `json:"exe,omitempty"`
	Cgroup   string    `json:"cgroup,omitempty"`
	Protocol string    `json:"protocol"`
	Last     time.Time `json:"last"`
	Count    int64     `json:"count"`
}

// Sink is what the status page says of one sink.
type Sink struct {
	Path   string `json:"path"`
	Source string `json:"source"`
	// LastWrite is when the file last became current: written, or found
	// already holding the credential.
	LastWrite time.Time `json:"lastWrite,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	Writes    int64     `json:"writes"`
	Failures  int64     `json:"failures"`
}
