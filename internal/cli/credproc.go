package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/render"
)

// credentialProcess prints the AWS credential_process document (Version
// 1) for an aws source of a running daemon, read through its JSON API.
func (e env) credentialProcess(args []string) int {
	cfg, name, code := e.configCommand("credential-process", "config file of the running daemon (or TC_CREDD_CONFIG)", "NAME", args)
	if cfg == nil {
		return code
	}
	addr := cfg.Listen
	for _, s := range cfg.AWS {
		if s.Name == name && s.Listen != "" {
			addr = s.Listen
		}
	}
	// The JSON API answers an aws source in the container shape.
	var doc render.ContainerCredentials
	if err := e.apiGet("credential-process", cfg, addr, "aws/"+name, &doc); err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitFailure
	}
	out, _ := json.Marshal(struct {
		Version         int
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	}{1, doc.AccessKeyID, doc.SecretAccessKey, doc.Token, doc.Expiration})
	fmt.Fprintln(e.stdout, string(out))
	return ExitOK
}

// apiGet reads a credential from the running daemon's JSON API on addr,
// with the local token, into out. The error is a sentence for a person.
func (e env) apiGet(cmd string, cfg *config.Config, addr, key string, out any) error {
	tok, err := os.ReadFile(cfg.LocalTokenFile)
	if err != nil {
		return fmt.Errorf("tc-credd %s: reading the local token: %w (is tc-credd running, and may this user read %s?)", cmd, err, cfg.LocalTokenFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/credentials/"+key, nil)
	if err != nil {
		return fmt.Errorf("tc-credd %s: %w", cmd, err)
	}
	req.Header.Set("Authorization", strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("tc-credd %s: is tc-credd running on %s? %w", cmd, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		// An error comes as {Code, Message}.
		var apiErr struct{ Message string }
		_ = json.Unmarshal(body, &apiErr)
		return fmt.Errorf("tc-credd %s: %s answered %d: %s", cmd, addr, resp.StatusCode, apiErr.Message)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("tc-credd %s: %s answered with a document that is not JSON: %w", cmd, addr, err)
	}
	return nil
}

// ready exits 0 when the running daemon's /readyz says every source holds
// a credential: a probe for images without curl. With --live it asks
// /healthz instead, which answers while the process serves at all: a
// liveness probe must not restart the daemon because Taskcluster is down.
func (e env) ready(args []string) int {
	var live bool
	ops, code := e.opsListen("ready", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&live, "live", false, "only check that the daemon answers (a liveness probe)")
	})
	if ops == "" {
		return code
	}
	endpoint, state := "/readyz", "ready"
	if live {
		endpoint, state = "/healthz", "alive"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + ops + endpoint)
	if err != nil {
		fmt.Fprintln(e.stderr, "tc-credd ready:", err)
		return ExitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.stderr, "tc-credd ready: not %s: %s\n", state, body)
		return ExitFailure
	}
	fmt.Fprintln(e.stdout, state)
	return ExitOK
}

// opsListen parses the flags of a command that asks the running daemon's
// ops listener (--config, and those extra defines), loads the config and
// returns that listener's address; "" comes with the exit code to return.
func (e env) opsListen(name string, args []string, extra func(*flag.FlagSet)) (string, int) {
	var path string
	fs, ok := e.flags(name, args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "config file of the running daemon (or TC_CREDD_CONFIG)")
		if extra != nil {
			extra(fs)
		}
	})
	if !ok {
		return "", ExitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(e.stderr, "usage: tc-credd %s --config FILE\n", name)
		return "", ExitUsage
	}
	cfg, code := e.loadConfig(path, nil)
	if cfg == nil {
		return "", code
	}
	if cfg.OpsListen == "" {
		fmt.Fprintf(e.stderr, "tc-credd %s: the config has no opsListen, so the daemon serves no status: set opsListen (e.g. 127.0.0.1:8766) and restart it\n", name)
		return "", ExitUsage
	}
	if _, port, err := net.SplitHostPort(cfg.OpsListen); err == nil && port == "0" {
		fmt.Fprintf(e.stderr, "tc-credd %s: opsListen %s lets the daemon pick a port that only it knows: set a fixed port\n", name, cfg.OpsListen)
		return "", ExitUsage
	}
	return cfg.OpsListen, ExitOK
}
