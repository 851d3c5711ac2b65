package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/unit"
)

// program adapts the daemon to kardianos/service, for service managers
// that drive the process themselves (Windows).
type program struct {
	run    func(ctx context.Context) error
	cancel context.CancelFunc
	done   chan error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- p.run(ctx) }()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	return <-p.done
}

// sysvScript is the init script for SysV systems: the nearest equivalent of
// the systemd unit. It runs the daemon as tc-credd with the unit's groups,
// no capabilities and no_new_privs, creates /run/tc-credd for the local
// token, and logs to /var/log/tc-credd.log.
const sysvScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          tc-credd
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO
# Written by tc-credd install; tc-credd uninstall removes it.
pidfile=/run/tc-credd.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "$1" in
  start)
    running && exit 0
    install -d -o tc-credd -g tc-credd-clients -m 0750 /run/tc-credd
    umask 027
    setpriv --reuid=tc-credd --regid=tc-credd-clients --groups=tc-credd --inh-caps=-all --no-new-privs -- \
      {{Path | cmd}}{{range Arguments}} {{. | cmd}}{{end}} >>/var/log/tc-credd.log 2>&1 &
    echo $! >"$pidfile"
    ;;
  stop)
    running || exit 0
    kill "$(cat "$pidfile")"
    # tc-credd stops within shutdownGrace + 5 s of SIGTERM (10 s by default).
    while running; do sleep 1; done
    rm -f "$pidfile"
    ;;
  restart) "$0" stop && "$0" start ;;
  reload) running && kill -HUP "$(cat "$pidfile")" ;;
  status)
    if running; then echo running; else echo stopped; exit 3; fi
    ;;
  *) echo "usage: $0 {start|stop|restart|reload|status}" >&2; exit 2 ;;
esac
`

func serviceConfig(configPath string) *service.Config {
	return &service.Config{
		Name:        "tc-credd",
		DisplayName: "tc-credd",
		Description: "Taskcluster credential-vending daemon",
		Arguments:   []string{"run", "--config", configPath},
		Option: service.KeyValue{
			// On systemd, the same hardened unit the packages install.
			"SystemdScript": unit.ServiceTemplate(),
			"SysvScript":    sysvScript,
			"Restart":       "on-failure",
			"LogDirectory":  "/var/log",
		},
	}
}

// runAsService reports whether a service manager, not a terminal or
// systemd's plain exec, is driving this process. On Unix the daemon
// handles its own signals, so only Windows takes the service path.
func runAsService() bool { return runtime.GOOS == "windows" && !service.Interactive() }

func (e env) runService(cfg *config.Config, path string, log *zap.Logger) int {
	p := &program{run: func(ctx context.Context) error {
		return daemon.Run(ctx, cfg, daemon.Options{Path: path, Getenv: e.getenv, Logger: log})
	}}
	s, err := service.New(p, serviceConfig(path))
	if err != nil {
		log.Error("service", zap.Error(err))
		return ExitFailure
	}
	if err := s.Run(); err != nil {
		log.Error("service", zap.Error(err))
		return ExitFailure
	}
	return ExitOK
}

// systemdPlatform is kardianos/service's name for systemd.
const systemdPlatform = "linux-systemd"

func (e env) service(action string, args []string) int {
	var path string
	fs, ok := e.flags(action, args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "config file the service runs with (default $TC_CREDD_CONFIG, then "+DefaultConfigPath+")")
	})
	if !ok {
		return ExitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(e.stderr, "usage: tc-credd %s [--config FILE]\n", action)
		return ExitUsage
	}
	// The same order as run: the flag, the environment, the default.
	if path == "" {
		path = e.getenv("TC_CREDD_CONFIG")
	}
	if path == "" {
		path = DefaultConfigPath
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "tc-credd %s: config path %s: %v\n", action, path, err)
		return ExitUsage
	}
	if action == "install" {
		// Refuse to install a service that would fail at once.
		if cfg, code := e.loadConfig(abs, nil); cfg == nil {
			return code
		}
	}
	s, err := service.New(&program{}, serviceConfig(abs))
	if err != nil {
		fmt.Fprintf(e.stderr, "tc-credd %s: no service manager found: %v\n", action, err)
		return ExitFailure
	}
	platform := s.Platform()
	if action == "install" && runtime.GOOS == "linux" {
		if err := createUsers(); err != nil {
			fmt.Fprintf(e.stderr, "tc-credd install: creating the user tc-credd and the groups tc-credd and tc-credd-clients: %v\n", err)
			return ExitFailure
		}
	}
	if platform == systemdPlatform && action != "install" && action != "uninstall" {
		// systemctl says why a unit failed; kardianos/service keeps only
		// its exit status.
		return e.systemctl(action)
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil {
			fmt.Fprintf(e.stderr, "tc-credd status: %s: %v\n", platform, describe(err))
			return ExitFailure
		}
		fmt.Fprintln(e.stdout, map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st])
		if st != service.StatusRunning {
			return ExitFailure
		}
		return ExitOK
	}
	if err := service.Control(s, action); err != nil {
		fmt.Fprintf(e.stderr, "tc-credd %s: %s could not %s the service tc-credd: %v\n", action, platform, action, describe(err))
		return ExitFailure
	}
	if action == "uninstall" {
		if err := removeRCLinks(platform); err != nil {
			fmt.Fprintf(e.stderr, "tc-credd uninstall: %v\n", err)
			return ExitFailure
		}
	}
	fmt.Fprintf(e.stdout, "tc-credd: %s done (system: %s, config: %s)\n", action, platform, abs)
	return ExitOK
}

// describe puts a failed command's exit status in words.
func describe(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Sprintf("the service manager's command failed with exit code %d (see the system log)", exit.ExitCode())
	}
	if errors.Is(err, service.ErrNotInstalled) {
		return "the service is not installed (tc-credd install)"
	}
	return err.Error()
}

// systemctl runs a start, stop, restart or status through systemctl and
// reports what it says.
func (e env) systemctl(action string) int {
	verb := action
	if action == "status" {
		verb = "is-active"
	}
	var out bytes.Buffer
	cmd := exec.Command("systemctl", verb, "tc-credd.service")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	msg := strings.TrimSpace(out.String())
	if action == "status" {
		// is-active prints the state: active, activating, inactive, failed...
		fmt.Fprintln(e.stdout, msg)
		if err != nil {
			return ExitFailure
		}
		return ExitOK
	}
	if err != nil {
		if msg == "" {
			msg = describe(err)
		}
		fmt.Fprintf(e.stderr, "tc-credd %s: systemctl %s tc-credd.service failed: %s\n", action, action, msg)
		return ExitFailure
	}
	fmt.Fprintf(e.stdout, "tc-credd: %s done (system: %s)\n", action, systemdPlatform)
	return ExitOK
}

// createUsers runs the packages' user-creating script, which leaves
// existing users and groups alone.
func createUsers() error {
	out, err := exec.Command("sh", "-c", unit.CreateUsers).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s", strings.TrimSpace(string(out)+" "+describe(err)))
	}
	return nil
}

// removeRCLinks removes the /etc/rc?.d links a SysV install made, which
// kardianos/service's uninstall leaves behind pointing at nothing.
func removeRCLinks(platform string) error {
	if !strings.HasSuffix(platform, "-systemv") {
		return nil
	}
	links, err := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]tc-credd")
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := os.Remove(l); err != nil {
			return fmt.Errorf("removing the SysV link %s: %w", l, err)
		}
	}
	return nil
}
