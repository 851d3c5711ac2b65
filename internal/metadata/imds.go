package metadata

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
)

// IMDSv2 header names.
const (
	hdrIMDSToken = "X-Aws-Ec2-Metadata-Token"
	hdrIMDSTTL   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	maxIMDSTTL   = 21600
)

// imdsToken opens an IMDSv2 session. A missing or bad TTL is 400, but a
// well-formed PUT never is: every SDK takes 400 as final.
func (h *handler) imdsToken(w http.ResponseWriter, r *http.Request) {
	ttl, err := strconv.Atoi(r.Header.Get(hdrIMDSTTL))
	if err != nil || ttl < 1 || ttl > maxIMDSTTL {
		http.Error(w, "X-aws-ec2-metadata-token-ttl-seconds must be an integer from 1 to 21600", http.StatusBadRequest)
		return
	}
	tok := h.o.Sessions.issue(ttl)
	w.Header().Set(hdrIMDSTTL, strconv.Itoa(ttl))
	writeText(w, tok) // no trailing newline: SDKs copy the body into a header
}

// requireIMDSToken demands a valid session token on every IMDS GET, unless
// IMDSv1 is allowed and none is sent. An unknown or expired token is 401,
// which makes the SDKs open a new session.
func (h *handler) requireIMDSToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(hdrIMDSToken)
		switch {
		case tok != "" && h.o.Sessions.valid(tok):
		case tok == "" && h.o.AllowIMDSv1:
		default:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// role is the IMDS role the request's caller sees: the first of the
// listener's roles whose rule admits it, or "" for none.
func (h *handler) role(r *http.Request) string {
	for _, name := range h.o.AWSRoles {
		if h.admits(r, awsKey(name)) {
			return name
		}
	}
	return ""
}

func (h *handler) imdsRoles(w http.ResponseWriter, r *http.Request) {
	role := h.role(r)
	if role == "" {
		notFound(w, r)
		return
	}
	// Exactly one name and no newline: boto takes the whole body as the
	// role name.
	writeText(w, role)
}

// imdsCredentials serves the caller's role only, as a real IMDS serves
// the instance's one role. Another of the listener's roles that the
// caller's rule refuses is 403, so the caller learns which rule to change;
// any other name is not found.
func (h *handler) imdsCredentials(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["role"]
	key := awsKey(name)
	if name == "" || (name != h.role(r) && (!slices.Contains(h.o.AWSRoles, name) || h.admits(r, key))) {
		notFound(w, r)
		return
	}
	if c := h.credentialOrError(w, r, audit.IMDS, key); c != nil {
		h.served(r, audit.IMDS, key, c)
		writeJSON(w, http.StatusOK, render.IMDS(c))
	}
}

// awsKey is the refresher key of an aws source.
func awsKey(name string) string { return string(refresher.AWS) + "/" + name }

func (h *handler) imdsInfo(w http.ResponseWriter, r *http.Request) {
	role := h.role(r)
	if role == "" {
		notFound(w, r)
		return
	}
	c := h.credentialOrError(w, r, audit.IMDS, awsKey(role))
	if c == nil {
		return
	}
	writeJSON(w, http.StatusOK, render.IAMInfoFor(role, c.Issued))
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
