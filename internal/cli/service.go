package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/kardianos/service"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/daemon"
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

func serviceConfig(configPath string) *service.Config {
	return &service.Config{
		Name:        "tc-credd",
		DisplayName: "tc-credd",
		Description: "Taskcluster credential-vending daemon",
		Arguments:   []string{"run", "--config", configPath},
		Option: service.KeyValue{
			"Restart":      "on-failure",
			"LogDirectory": "/var/log",
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

func (e env) service(action string, args []string) int {
	var path string
	if _, ok := e.flags(action, args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", DefaultConfigPath, "config file the service runs with")
	}); !ok {
		return ExitUsage
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintln(e.stderr, "tc-credd:", err)
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
		fmt.Fprintln(e.stderr, "tc-credd:", err)
		return ExitFailure
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil {
			fmt.Fprintln(e.stderr, "tc-credd status:", err)
			return ExitFailure
		}
		fmt.Fprintln(e.stdout, map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[st])
		if st != service.StatusRunning {
			return ExitFailure
		}
		return ExitOK
	}
	if err := service.Control(s, action); err != nil {
		fmt.Fprintf(e.stderr, "tc-credd %s: %v\n", action, err)
		return ExitFailure
	}
	fmt.Fprintf(e.stdout, "tc-credd: %s done (system: %s)\n", action, s.Platform())
	return ExitOK
}
