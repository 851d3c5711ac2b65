// Package secret holds values that must never be printed, logged or
// marshalled by accident: Taskcluster access tokens, cloud keys, SAS
// strings, DSNs and JWTs.
//
// A String keeps its value behind a pointer. fmt prints an unexported
// pointer field as an address, so even a struct that embeds a String in an
// unexported field and is printed with %v or %+v cannot leak the value.
// Every formatting and marshalling path redacts; Reveal is the one way out
// and is easy to grep for.
package secret

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every formatting path prints in place of a value.
const Redacted = "[redacted]"

// String is a secret text value. The zero value is empty.
type String struct {
	v *string
}

// New wraps s.
func New(s string) String {
	if s == "" {
		return String{}
	}
	return String{v: &s}
}

// Reveal returns the secret text. Call it only where the value leaves the
// process on purpose: a signed request, an HTTP response to an
// authenticated consumer, a sink file.
func (s String) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s.v == nil || *s.v == "" }

// Equal compares two secrets in constant time (for equal lengths).
func (s String) Equal(o String) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// Suffix returns the last n characters, for logs that must tell keys apart
// without showing them (the aws-vault convention of four characters). It
// returns the redaction marker when the value is too short to shorten.
func (s String) Suffix(n int) string {
	v := s.Reveal()
	if len(v) <= 2*n {
		return Redacted
	}
	return "…" + v[len(v)-n:]
}

func (s String) marker() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s String) String() string { return s.marker() }

// GoString implements fmt.GoStringer, for %#v.
func (s String) GoString() string { return fmt.Sprintf("secret.String(%q)", s.marker()) }

// Format makes every verb, including %s, %q, %x and %d, print the marker.
func (s String) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.marker())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.marker()))
	default:
		_, _ = f.Write([]byte(s.marker()))
	}
}

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.marker()) }

// MarshalJSON redacts: JSON logs (zap's reflection encoder uses
// encoding/json) and status pages can never carry the value. Code that must
// put the value on the wire copies Reveal() into a plain string field.
func (s String) MarshalJSON() ([]byte, error) { return json.Marshal(s.marker()) }

// MarshalText redacts, for encoders that prefer text.
func (s String) MarshalText() ([]byte, error) { return []byte(s.marker()), nil }

// UnmarshalJSON reads a JSON string, so API responses decode straight into
// redacting fields.
func (s *String) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret: expected a JSON string: %w", errNoEcho(err))
	}
	*s = New(v)
	return nil
}

// UnmarshalYAML reads a YAML scalar (config files); yaml.v3 calls it with
// a decode function.
func (s *String) UnmarshalYAML(unmarshal func(any) error) error {
	var v string
	if err := unmarshal(&v); err != nil {
		return err
	}
	*s = New(v)
	return nil
}

// errNoEcho drops decoder messages that could quote the input.
func errNoEcho(err error) error {
	if _, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("wrong JSON type")
	}
	return fmt.Errorf("invalid JSON")
}
