package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/secret"
)

const value = "AKIAsuper-secret-value-1234"

type holder struct {
	Public  string
	Exposed secret.String
	hidden  secret.String
}

func TestNoFormattingPathLeaks(t *testing.T) {
	s := secret.New(value)
	h := holder{Public: "p", Exposed: s, hidden: s}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs["value "+verb] = fmt.Sprintf(verb, s)
		outputs["struct "+verb] = fmt.Sprintf(verb, h)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &h)
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s, "h", h)
	outputs["slog"] = buf.String()
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, "super-secret") {
			t.Errorf("%s leaked the secret: %s", name, out)
		}
	}
	if !strings.Contains(outputs["value %v"], secret.Redacted) {
		t.Errorf("%%v = %q, want the redaction marker", outputs["value %v"])
	}
}

func TestRevealAndRoundTrip(t *testing.T) {
	var got struct{ Token secret.String }
	if err := json.Unmarshal([]byte(`{"Token":"`+value+`"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Token.Reveal() != value {
		t.Fatalf("Reveal = %q, want %q", got.Token.Reveal(), value)
	}
	if !got.Token.Equal(secret.New(value)) || got.Token.Equal(secret.New(value+"x")) {
		t.Fatal("Equal is wrong")
	}
	if got.Token.Suffix(4) != "…1234" {
		t.Fatalf("Suffix = %q", got.Token.Suffix(4))
	}
	if secret.New("short").Suffix(4) != secret.Redacted {
		t.Fatal("a short value must not be shortened into view")
	}
	if !secret.New("").IsZero() || secret.New("").String() != "" {
		t.Fatal("empty secret should print as empty")
	}
}

func TestUnmarshalErrorDoesNotEcho(t *testing.T) {
	var s secret.String
	err := json.Unmarshal([]byte(`{"a": "`+value+`"}`), &s)
	if err == nil || strings.Contains(err.Error(), value) {
		t.Fatalf("err = %v", err)
	}
}
