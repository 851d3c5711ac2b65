package metadata

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/render"
)

// gceRoot answers Python's ping; it reveals nothing.
func (h *handler) gceRoot(w http.ResponseWriter, r *http.Request) {
	writeText(w, "computeMetadata/\n")
}

func (h *handler) gceListing(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeText(w, body) }
}

// accounts are the gcp accounts the request's caller may have, in order:
// the first is its "default".
func (h *handler) accounts(r *http.Request) []GCPAccount {
	var out []GCPAccount
	for _, a := range h.o.GCP {
		if h.admits(r, a.Key) {
			out = append(out, a)
		}
	}
	return out
}

func (h *handler) gceAccounts(w http.ResponseWriter, r *http.Request) {
	accts := h.accounts(r)
	if len(accts) == 0 {
		writeText(w, "")
		return
	}
	var b strings.Builder
	b.WriteString("default/\n")
	for _, a := range accts {
		b.WriteString(a.Email + "/\n")
	}
	writeText(w, b.String())
}

// account resolves {acct} among the caller's accounts, or answers 404, or
// 403 for an account whose rule refuses the caller.
func (h *handler) account(w http.ResponseWriter, r *http.Request) (GCPAccount, bool) {
	name := mux.Vars(r)["acct"]
	if a, ok := gcpAccount(h.accounts(r), name); ok {
		return a, true
	}
	if a, ok := gcpAccount(h.o.GCP, name); ok && name != "default" {
		http.Error(w, h.refusal(r, audit.GCE, a.Key), http.StatusForbidden)
		return GCPAccount{}, false
	}
	notFound(w, r)
	return GCPAccount{}, false
}

func (h *handler) aliases(r *http.Request, a GCPAccount) []string {
	if accts := h.accounts(r); len(accts) > 0 && a.Key == accts[0].Key {
		return []string{"default"}
	}
	return []string{}
}

func (h *handler) gceAccount(w http.ResponseWriter, r *http.Request) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	if r.URL.Query().Get("recursive") == "true" {
		writeJSON(w, http.StatusOK, render.GCEServiceAccount{Aliases: h.aliases(r, a), Email: a.Email, Scopes: []string{render.CloudPlatform}})
		return
	}
	writeText(w, "aliases\nemail\nscopes\ntoken\n")
}

func (h *handler) gceEmail(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.account(w, r); ok {
		writeText(w, a.Email)
	}
}

func (h *handler) gceAliases(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.account(w, r); ok {
		writeText(w, strings.Join(h.aliases(r, a), "\n"))
	}
}

// gceScopes reports cloud-platform, the only scope gcpCredentials grants,
// whatever scopes a client asks for.
func (h *handler) gceScopes(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.account(w, r); ok {
		writeText(w, render.CloudPlatform+"\n")
	}
}

func (h *handler) gceToken(w http.ResponseWriter, r *http.Request) {
	a, ok := h.account(w, r)
	if !ok {
		return
	}
	if c := h.credentialOrError(w, r, audit.GCE, a.Key); c != nil {
		h.served(r, audit.GCE, a.Key, c)
		writeJSON(w, http.StatusOK, render.GCEToken(c, h.o.Clock.Now()))
	}
}

func (h *handler) gceProjectID(w http.ResponseWriter, r *http.Request) {
	if len(h.o.GCP) == 0 {
		notFound(w, r)
		return
	}
	writeText(w, h.o.GCP[0].ProjectID)
}

func (h *handler) gceNumericProjectID(w http.ResponseWriter, r *http.Request) {
	if len(h.o.GCP) == 0 || h.o.GCP[0].NumericProjectID == "" {
		notFound(w, r)
		return
	}
	writeText(w, h.o.GCP[0].NumericProjectID)
}

// gcpAccount finds an account by email, or "default" (the first).
func gcpAccount(accts []GCPAccount, name string) (GCPAccount, bool) {
	if len(accts) == 0 {
		return GCPAccount{}, false
	}
	if name == "default" {
		return accts[0], true
	}
	for _, a := range accts {
		if strings.EqualFold(a.Email, name) {
			return a, true
		}
	}
	return GCPAccount{}, false
}
