// Package sink writes credentials to files when they change, and only
// then: atomically (temporary file in the same folder, fsync, rename),
// with the configured mode, then runs an optional command. It listens to
// the refresher's events and never touches the network.
package sink

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
)

// Format names.
const (
	JSON           = "json"
	Env            = "env"
	AWSCredentials = "aws-credentials"
	Template       = "template"
)

// CommandTimeout bounds a sink's command, so a hung reload cannot stall
// the sinks that follow it.
const CommandTimeout = 30 * time.Second

// Sink is one file to keep current.
type Sink struct {
	Source   refresher.Source
	Path     string
	Format   string
	Template *template.Template // for Template
	Profile  string             // for AWSCredentials
	Mode     os.FileMode
	Command  []string
}

// Render produces the file content for a credential.
func (s *Sink) Render(c *refresher.Credential) ([]byte, error) {
	switch s.Format {
	case JSON:
		return render.TaskclusterJSON(c)
	case Env:
		return render.Env(c, s.Source)
	case AWSCredentials:
		return render.AWSProfile(c, s.Profile)
	case Template:
		return render.Template(s.Template, c, s.Source)
	}
	return nil, fmt.Errorf("sink %s: unknown format %q", s.Path, s.Format)
}

// Write renders c into the file if its content changed, then runs the
// command. A render or write failure leaves the old file untouched.
func (s *Sink) Write(ctx context.Context, c *refresher.Credential, log *zap.Logger) error {
	data, err := s.Render(c)
	if err != nil {
		return err
	}
	mode := s.Mode
	if mode == 0 {
		mode = 0o600
	}
	wrote, err := atomicfile.WriteIfChanged(s.Path, data, mode)
	if err != nil || !wrote {
		return err
	}
	log.Info("sink written", zap.String("source", s.Source.Key()), zap.String("path", s.Path), zap.Time("expires", c.Expires))
	if len(s.Command) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, s.Command[0], s.Command[1:]...)
	cmd.Env = append(os.Environ(), "TC_CREDD_SINK_PATH="+s.Path, "TC_CREDD_SOURCE="+s.Source.Key())
	// The command's output is not logged: a reload script may echo the
	// file it was told about.
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sink %s: command %s: %w", s.Path, s.Command[0], err)
	}
	return nil
}

// Runner feeds refresher events to a set of sinks.
type Runner struct {
	r    *refresher.Refresher
	sub  *refresher.Subscription
	log  *zap.Logger
	sets chan []Sink
}

// NewRunner subscribes to r. Call Run to start writing.
func NewRunner(r *refresher.Refresher, log *zap.Logger) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{r: r, sub: r.Subscribe(), log: log, sets: make(chan []Sink, 1)}
}

// Set replaces the sinks (config reload). Each is written at once with its
// source's current credential, if one is held; unchanged files stay as
// they are.
func (r *Runner) Set(sinks []Sink) {
	select {
	case <-r.sets:
	default:
	}
	r.sets <- sinks
}

// Run writes each change until ctx ends.
func (r *Runner) Run(ctx context.Context, initial []Sink) {
	defer r.sub.Close()
	sinks := initial
	events := make(chan []refresher.Event)
	go func() {
		for {
			evs, err := r.sub.Next(ctx)
			if err != nil {
				close(events)
				return
			}
			select {
			case events <- evs:
			case <-ctx.Done():
				close(events)
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case next := <-r.sets:
			sinks = next
			for i := range sinks {
				if c := r.r.Current(sinks[i].Source.Key()); c != nil {
					r.write(ctx, &sinks[i], c)
				}
			}
		case evs, ok := <-events:
			if !ok {
				return
			}
			for _, ev := range evs {
				if ev.Credential == nil {
					continue // a removed source: leave its file as it was
				}
				for i := range sinks {
					if sinks[i].Source.Key() == ev.Key {
						r.write(ctx, &sinks[i], ev.Credential)
					}
				}
			}
		}
	}
}

func (r *Runner) write(ctx context.Context, s *Sink, c *refresher.Credential) {
	if err := s.Write(ctx, c, r.log); err != nil {
		r.log.Error("sink failed; the previous file is kept", zap.String("source", s.Source.Key()), zap.String("path", s.Path), zap.Error(err))
	}
}
