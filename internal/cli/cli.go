// Package cli is tc-credd's command line: subcommands, flags, logging,
// signals and exit codes. main calls Main and nothing else.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/logging"
)

// Exit codes, documented in the README, so systemd and scripts can tell
// failures apart.
const (
	ExitOK          = 0
	ExitFailure     = 1 // a runtime failure
	ExitUsage       = 2 // bad command line
	ExitConfig      = 3 // the config file is invalid
	ExitCheckFailed = 4 // check: a source lacks its scope
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// DefaultConfigPath is used when neither --config nor TC_CREDD_CONFIG is
// given and the file exists (the packages install it).
const DefaultConfigPath = "/etc/tc-credd/config.yml"

// StopGrace bounds shutdown after SIGTERM or SIGINT beyond the grace the
// daemon gives requests in flight (shutdownGrace): stopping the refresher
// and the sinks takes the rest.
const StopGrace = 5 * time.Second

const usage = `tc-credd: a local credential-vending daemon for Taskcluster

Usage:
  tc-credd run --config FILE [--log-level LEVEL]   run in the foreground
  tc-credd check [--offline] --config FILE          validate the config, render its sinks, check the scopes
                                                    it needs (--offline: all but the scopes, no network)
  tc-credd dev [--listen ADDR] [--ops-listen ADDR]  run a demo against an embedded fake Taskcluster
  tc-credd credential-process [--config FILE] NAME  print AWS credential_process JSON for an aws source
  tc-credd git-credential [--config FILE] get       a git credential helper for github sources
  tc-credd ready [--live] --config FILE             exit 0 when the running daemon is ready (--live: when
                                                    it answers at all); probes for images without curl
  tc-credd show --config FILE                       print the running daemon's sources and sinks as tables
  tc-credd install|uninstall|start|stop|restart|status --config FILE
                                                    manage the system service (systemd, launchd, Windows)
  tc-credd version

--config defaults to $TC_CREDD_CONFIG, then /etc/tc-credd/config.yml.
Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 config error, 4 check found a missing scope.
`

// env is what a command may use of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	e := env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return e.run(rest)
	case "check":
		return e.check(rest)
	case "dev":
		return e.dev(rest)
	case "credential-process":
		return e.credentialProcess(rest)
	case "git-credential":
		return e.gitCredential(rest)
	case "ready":
		return e.ready(rest)
	case "show":
		return e.show(rest)
	case "install", "uninstall", "start", "stop", "restart", "status":
		return e.service(cmd, rest)
	case "version", "--version":
		fmt.Fprintln(stdout, "tc-credd", Version)
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "tc-credd: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

// flags parses a subcommand's flags; ok is false after a usage error.
func (e env) flags(name string, args []string, define func(*flag.FlagSet)) (*flag.FlagSet, bool) {
	fs := flag.NewFlagSet("tc-credd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		return fs, false
	}
	return fs, true
}

// configCommand parses a command whose one flag is --config and which
// takes one positional argument named arg, or none when arg is "", then
// loads the config. A nil config comes with the exit code to return.
func (e env) configCommand(name, help, arg string, args []string) (*config.Config, string, int) {
	var path string
	fs, ok := e.flags(name, args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", help)
	})
	if !ok {
		return nil, "", ExitUsage
	}
	want := 0
	if arg != "" {
		want = 1
	}
	if fs.NArg() != want {
		fmt.Fprintln(e.stderr, strings.TrimSpace("usage: tc-credd "+name+" --config FILE "+arg))
		return nil, "", ExitUsage
	}
	cfg, code := e.loadConfig(path, nil)
	return cfg, fs.Arg(0), code
}

// loadConfig loads and validates, printing warnings and errors.
func (e env) loadConfig(path string, log *zap.Logger) (*config.Config, int) {
	if path == "" {
		path = e.getenv("TC_CREDD_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	if path == "" {
		fmt.Fprintln(e.stderr, "tc-credd: --config FILE is required (or set TC_CREDD_CONFIG, or create "+DefaultConfigPath+")")
		return nil, ExitUsage
	}
	cfg, warnings, err := daemon.Load(path, e.getenv)
	for _, w := range warnings {
		if log != nil {
			log.Warn("config: " + w)
		} else {
			fmt.Fprintln(e.stderr, "warning:", w)
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tc-credd: invalid config %s:\n%v\n", path, indent(err.Error()))
		return nil, ExitConfig
	}
	return cfg, ExitOK
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// signals returns a context ended by SIGINT or SIGTERM, and a channel fed
// by SIGHUP.
func signals() (context.Context, context.CancelFunc, <-chan struct{}) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				signal.Stop(hup)
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}()
	return ctx, cancel, reload
}

// runBounded runs f until it returns or, once ctx ends, grace passes.
// A second SIGTERM or SIGINT during that shutdown exits at once: the
// operator has decided not to wait.
func runBounded(ctx context.Context, log *zap.Logger, grace time.Duration, f func() error) int {
	// Registered beside the context's own: every stop signal lands here
	// too, the first included, so the second is the one to act on.
	stops := make(chan os.Signal, 2)
	signal.Notify(stops, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stops)
	done := make(chan error, 1)
	go func() { done <- f() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		log.Info("stopping; a second SIGTERM or SIGINT exits at once", zap.Duration("grace", grace))
		timer := time.NewTimer(grace)
		defer timer.Stop()
		for seen, waiting := 0, true; waiting; {
			select {
			case err = <-done:
				waiting = false
			case s := <-stops:
				if seen++; seen >= 2 {
					log.Error("second stop signal; exiting without finishing shutdown", zap.String("signal", s.String()))
					return ExitFailure
				}
			case <-timer.C:
				log.Error("shutdown took too long; exiting", zap.Duration("grace", grace))
				return ExitFailure
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("tc-credd failed", zap.Error(err))
		return ExitFailure
	}
	return ExitOK
}

func (e env) run(args []string) int {
	var path, level string
	if _, ok := e.flags("run", args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "config file (or TC_CREDD_CONFIG)")
		fs.StringVar(&level, "log-level", "", "debug, info, warn or error (overrides logLevel)")
	}); !ok {
		return ExitUsage
	}
	// One logger for the whole process: the config's warnings go through
	// it, then its level follows the config.
	log, lvl := logging.New(e.stderr)
	defer func() { _ = log.Sync() }()
	cfg, code := e.loadConfig(path, log)
	if cfg == nil {
		return code
	}
	if level == "" {
		level = cfg.LogLevel
	}
	if !e.setLevel(lvl, level) {
		return ExitUsage
	}
	if runAsService() {
		return e.runService(cfg, path, log)
	}
	ctx, cancel, reload := signals()
	defer cancel()
	return runBounded(ctx, log, cfg.ShutdownGrace+StopGrace, func() error {
		return daemon.Run(ctx, cfg, daemon.Options{Path: cfg.Path(), Getenv: e.getenv, Logger: log, Reload: reload, Version: Version})
	})
}

// setLevel applies a log level; false after a usage error was printed.
func (e env) setLevel(lvl zap.AtomicLevel, level string) bool {
	l, err := logging.ParseLevel(level)
	if err != nil {
		fmt.Fprintln(e.stderr, "tc-credd:", err)
		return false
	}
	lvl.SetLevel(l)
	return true
}

func (e env) dev(args []string) int {
	var listen, ops, level string
	if _, ok := e.flags("dev", args, func(fs *flag.FlagSet) {
		fs.StringVar(&listen, "listen", config.DefaultListen, "credential listener")
		fs.StringVar(&ops, "ops-listen", "127.0.0.1:8766", "ops listener")
		fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	}); !ok {
		return ExitUsage
	}
	log, lvl := logging.New(e.stderr)
	defer func() { _ = log.Sync() }()
	if !e.setLevel(lvl, level) {
		return ExitUsage
	}
	ctx, cancel, _ := signals()
	defer cancel()
	return runBounded(ctx, log, daemon.ShutdownGrace+StopGrace, func() error {
		return daemon.Dev(ctx, daemon.DevOptions{Listen: listen, OpsListen: ops, Logger: log, Stdout: e.stdout, Version: Version})
	})
}

func (e env) check(args []string) int {
	var path string
	var offline bool
	fs, ok := e.flags("check", args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "config file (or TC_CREDD_CONFIG)")
		fs.BoolVar(&offline, "offline", false, "check all but the scopes, without reaching Taskcluster")
	})
	if !ok {
		return ExitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(e.stderr, "usage: tc-credd check [--offline] --config FILE")
		return ExitUsage
	}
	cfg, code := e.loadConfig(path, nil)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(e.stdout, "config %s: every field is valid\n", cfg.Path())
	problems, err := 0, error(nil)
	if offline {
		err = daemon.CheckOffline(cfg, e.stdout)
		problems = daemon.CheckSinkFolders(cfg, e.stdout)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		problems, err = daemon.Check(ctx, cfg, e.stdout)
	}
	var invalid config.Errors
	switch {
	case errors.As(err, &invalid):
		fmt.Fprintf(e.stderr, "tc-credd: invalid config %s:\n%v\n", cfg.Path(), indent(err.Error()))
		return ExitConfig
	case err != nil:
		fmt.Fprintln(e.stderr, "tc-credd check:", err)
		return ExitFailure
	case problems > 0:
		return ExitCheckFailed
	}
	if offline {
		fmt.Fprintln(e.stdout, "offline: Taskcluster was not asked, so the scopes are unchecked")
	}
	return ExitOK
}
