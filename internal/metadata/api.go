package metadata

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
)

// apiError is the error body of the JSON API, capitalised as the AWS JS
// SDK needs it (Go matches either case).
type apiError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

// requireLocalToken demands Authorization: <token> (the raw form the AWS
// SDKs send) or Bearer <token>, compared in constant time.
func (h *handler) requireLocalToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.o.Token == nil {
			writeJSON(w, http.StatusNotFound, apiError{"NotFound", "the JSON API is not enabled"})
			return
		}
		presented := r.Header.Get("Authorization")
		if presented == "" {
			writeJSON(w, http.StatusUnauthorized, apiError{"Unauthorized", "missing Authorization header: send the token from tc-credd's token file"})
			return
		}
		if b, ok := strings.CutPrefix(presented, "Bearer "); ok {
			presented = b
		}
		if !h.o.Token.Check(presented) {
			writeJSON(w, http.StatusForbidden, apiError{"Forbidden", "wrong token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) apiCredentials(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	kind, name := refresher.Kind(vars["kind"]), vars["name"]
	if !slices.Contains(refresher.Kinds, kind) {
		kinds := make([]string, len(refresher.Kinds))
		for i, k := range refresher.Kinds {
			kinds[i] = string(k)
		}
		writeJSON(w, http.StatusNotFound, apiError{"NotFound", "kind must be one of " + strings.Join(kinds, ", ")})
		return
	}
	key := string(kind) + "/" + name
	c, status, msg := h.credential(r, audit.API, key)
	if c == nil {
		code := "NotFound"
		switch status {
		case http.StatusServiceUnavailable:
			code = "ServiceUnavailable"
		case http.StatusForbidden:
			code = "Forbidden"
		}
		writeJSON(w, status, apiError{code, msg})
		return
	}
	h.served(r, audit.API, key, c)
	writeJSON(w, http.StatusOK, render.Taskcluster(c))
}
