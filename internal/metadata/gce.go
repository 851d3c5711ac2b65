package metadata

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/taskcluster/tc-credd/internal/render"
)

// gceRoot answers Python's ping; it reveals nothing.
func (h *handler) gceRoot(w http.ResponseWriter, r *http.Request) {
	writeText(w, "computeMetadata/\n")
}

func (h *handler) gceListing(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeText(w, body) }
}

func (h *handler) gceAccounts(w http.ResponseWriter, r *http.Request) {
	if len(h.o.GCP) == 0 {
		writeText(w, "")
		return
	}
	var b strings.Builder
	b.WriteString("default/\n")
	for _, a := range h.o.GCP {
		b.WriteString(a.Email + "/\n")
	}
	writeText(w, b.String())
}

// account resolves {acct} or answers 404.
func (h *handler) account(w http.ResponseWriter, r *http.Request) (GCPAccount, bool) {
	a, ok := h.gcpAccount(mux.Vars(r)["acct"])
	if !ok {
		notFound(w, r)
	}
	return a, ok
}

func (h *handler) aliases(a GCPAccount) []string {
	if a.Key == h.o.GCP[0].Key {
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
		writeJSON(w, http.StatusOK, render.GCEServiceAccount{Aliases: h.aliases(a), Email: a.Email, Scopes: []string{render.CloudPlatform}})
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
		writeText(w, strings.Join(h.aliases(a), "\n"))
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
	if c := h.credentialOrError(w, r, a.Key); c != nil {
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

func (h *handler) gcpAccount(name string) (GCPAccount, bool) {
	if len(h.o.GCP) == 0 {
		return GCPAccount{}, false
	}
	if name == "default" {
		return h.o.GCP[0], true
	}
	for _, a := range h.o.GCP {
		if strings.EqualFold(a.Email, name) {
			return a, true
		}
	}
	return GCPAccount{}, false
}
