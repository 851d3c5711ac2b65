//go:build linux

package identitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// Request is one HTTP request a client process sends. In URL and header
// values, {imds} is replaced by the body of the last IMDSv2 token PUT.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Result is what the client saw, with its own pid.
type Result struct {
	PID      int      `json:"pid"`
	Statuses []int    `json:"statuses"`
	Bodies   []string `json:"bodies"`
	Error    string   `json:"error,omitempty"`
}

const (
	envRequests = "IDENTITYTEST_REQUESTS"
	envUnix     = "IDENTITYTEST_UNIX"
)

// ClientEnv is the environment that makes a test binary's TestMain act as
// a client (see RunClientIfAsked): it sends requests in order over one
// kept-alive connection, through the Unix socket unixPath when it is not
// empty.
func ClientEnv(unixPath string, reqs ...Request) []string {
	b, _ := json.Marshal(reqs)
	return []string{envRequests + "=" + string(b), envUnix + "=" + unixPath}
}

// RunClientIfAsked is for TestMain: when the environment carries requests
// it sends them, prints a Result as JSON on stdout and exits.
func RunClientIfAsked() {
	spec := os.Getenv(envRequests)
	if spec == "" {
		return
	}
	res := Result{PID: os.Getpid()}
	var reqs []Request
	if err := json.Unmarshal([]byte(spec), &reqs); err != nil {
		res.Error = err.Error()
	}
	tr := &http.Transport{MaxConnsPerHost: 1}
	if sock := os.Getenv(envUnix); sock != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
	}
	client := &http.Client{Transport: tr}
	imds := ""
	for _, r := range reqs {
		if res.Error != "" {
			break
		}
		req, err := http.NewRequest(r.Method, strings.ReplaceAll(r.URL, "{imds}", imds), nil)
		if err != nil {
			res.Error = err.Error()
			break
		}
		for k, v := range r.Headers {
			req.Header.Set(k, strings.ReplaceAll(v, "{imds}", imds))
		}
		resp, err := client.Do(req)
		if err != nil {
			res.Error = err.Error()
			break
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			res.Error = err.Error()
			break
		}
		if r.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/latest/api/token") {
			imds = string(body)
		}
		res.Statuses = append(res.Statuses, resp.StatusCode)
		res.Bodies = append(res.Bodies, string(body))
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if res.Error != "" {
		fmt.Fprintln(os.Stderr, res.Error)
		os.Exit(2)
	}
	os.Exit(0)
}

// Run runs the test binary exe as uid (group uid) sending reqs, through
// the Unix socket unixPath when it is not empty, and returns what the
// client saw; it fails the test when the client could not report.
func Run(t testing.TB, exe string, uid uint32, unixPath string, reqs ...Request) Result {
	t.Helper()
	cmd := Command(exe, uid, uid, ClientEnv(unixPath, reqs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res Result
	if jerr := json.Unmarshal(out, &res); err != nil || jerr != nil {
		t.Fatalf("client as uid %d: %v %v: %s %s", uid, err, jerr, out, stderr.String())
	}
	return res
}
