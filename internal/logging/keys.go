package logging

// Log field keys shared across packages, so that one field means one
// thing in every line and log queries can rely on it.
const (
	KeySource      = "source"
	KeyPath        = "path"
	KeyRoute       = "route"
	KeyStatus      = "status"
	KeyMethod      = "method"
	KeyRemote      = "remote"
	KeyBytes       = "bytes"
	KeyDuration    = "durationMicros"
	KeyKeyIDSuffix = "keyIdSuffix"
	KeyListen      = "listen"
	KeyClientID    = "clientId"
	KeyExpires     = "expires"
)
