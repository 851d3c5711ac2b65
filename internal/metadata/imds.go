package metadata

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/taskcluster/tc-credd/internal/render"
)

// IMDSv2 header names.
const (
	hdrIMDSToken = "X-Aws-Ec2-Metadata-Token"
	hdrIMDSTTL   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	maxIMDSTTL   = 21600
)

// imdsToken issues an IMDSv2 session token (checklist items 2–6).
func (h *handler) imdsToken(w http.ResponseWriter, r *http.Request) {
	// A forwarding proxy adds X-Forwarded-For; real IMDSv2 refuses it so
	// that an SSRF through a proxy cannot open a session.
	if header(r, "X-Forwarded-For") != "" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(header(r, hdrIMDSTTL))
	if err != nil || ttl < 1 || ttl > maxIMDSTTL {
		http.Error(w, "X-aws-ec2-metadata-token-ttl-seconds must be an integer from 1 to 21600", http.StatusBadRequest)
		return
	}
	tok := h.tokens.issue(ttl)
	w.Header().Set(hdrIMDSTTL, strconv.Itoa(ttl))
	writeText(w, tok) // no trailing newline: SDKs copy the body into a header
}

// requireIMDSToken demands a valid session token on every IMDS GET, unless
// IMDSv1 is allowed and none is sent (items 7, 8).
func (h *handler) requireIMDSToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if header(r, "X-Forwarded-For") != "" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		tok := header(r, hdrIMDSToken)
		switch {
		case tok != "" && h.tokens.validAt(tok, h.now(w)):
		case tok == "" && h.o.AllowIMDSv1:
		default:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) imdsRoles(w http.ResponseWriter, r *http.Request) {
	if h.o.AWSRole == "" {
		notFound(w, r)
		return
	}
	writeText(w, h.o.AWSRole) // exactly one name, no newline (item 10)
}

const imdsCredsPrefix = "/latest/meta-data/iam/security-credentials/"

func (h *handler) imdsCredentials(w http.ResponseWriter, r *http.Request) {
	role := strings.TrimPrefix(r.URL.Path, imdsCredsPrefix)
	if h.o.AWSRole == "" || role != h.o.AWSRole {
		notFound(w, r)
		return
	}
	c := h.credentialOrError(w, r, h.awsKey)
	if c == nil {
		return
	}
	h.writeDoc(w, c, "imds", func() any { return render.IMDS(c) })
}

func (h *handler) imdsInfo(w http.ResponseWriter, r *http.Request) {
	if h.o.AWSRole == "" {
		notFound(w, r)
		return
	}
	c := h.credentialOrError(w, r, h.awsKey)
	if c == nil {
		return
	}
	writeJSON(w, http.StatusOK, render.IAMInfoFor(h.o.AWSRole, c.Issued))
}

func (h *handler) imdsRegion(w http.ResponseWriter, r *http.Request) {
	if h.o.Region == "" {
		notFound(w, r)
		return
	}
	writeText(w, h.o.Region)
}

// imdsAZ answers the region plus "a": boto takes the region as the zone
// minus its last character.
func (h *handler) imdsAZ(w http.ResponseWriter, r *http.Request) {
	if h.o.Region == "" {
		notFound(w, r)
		return
	}
	writeText(w, h.o.Region+"a")
}

func (h *handler) imdsIdentity(w http.ResponseWriter, r *http.Request) {
	if h.o.Region == "" {
		notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"region":           h.o.Region,
		"availabilityZone": h.o.Region + "a",
		"accountId":        "000000000000",
		"instanceId":       "i-00000000000000000",
		"architecture":     "x86_64",
	})
}
