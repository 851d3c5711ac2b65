// Package packaging holds tc-credd's distribution files (nfpm recipe,
// Dockerfile, Kubernetes example, example config) and the tests that
// check them; it has no code of its own.
package packaging
