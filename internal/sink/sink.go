// Package sink writes credentials to files when they change, and only
// then: atomically (temporary file in the same folder, fsync, rename),
// with the configured mode, then runs an optional command. It listens to
// the refresher's events and never touches the network.
package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/logging"
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
// command; with commandPending it runs the command even when the file was
// already current (its last run failed). A render or write failure leaves
// the old file untouched. It reports whether it wrote the file; a failed
// command is a *CommandError.
func (s *Sink) Write(ctx context.Context, c *refresher.Credential, log *zap.Logger, commandPending bool) (bool, error) {
	data, err := s.Render(c)
	if err != nil {
		return false, err
	}
	mode := s.Mode
	if mode == 0 {
		mode = 0o600
	}
	wrote, err := atomicfile.WriteIfChanged(s.Path, data, mode)
	if err != nil {
		return false, err
	}
	if wrote {
		log.Info("sink written", zap.String(logging.KeySource, s.Source.Key()), zap.String(logging.KeyPath, s.Path), zap.Time(logging.KeyExpires, c.Expires))
	}
	if len(s.Command) == 0 || (!wrote && !commandPending) {
		return wrote, nil
	}
	cctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, s.Command[0], s.Command[1:]...)
	cmd.Env = append(os.Environ(), "TC_CREDD_SINK_PATH="+s.Path, "TC_CREDD_SOURCE="+s.Source.Key())
	// The command's output is not logged: a reload script may echo the
	// file it was told about.
	if err := cmd.Run(); err != nil {
		return wrote, &CommandError{Path: s.Path, Command: s.Command[0], Err: err}
	}
	return wrote, nil
}

// CommandError is a sink command that failed after its file was written:
// the command is run again at the next retry, file changed or not.
type CommandError struct {
	Path, Command string
	Err           error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("sink %s: command %s: %v", e.Path, e.Command, e.Err)
}

func (e *CommandError) Unwrap() error { return e.Err }

// CheckFolder reports whether this user can create files in the folder
// of path, by creating one and removing it: permission bits alone do not
// tell (ACLs, read-only mounts).
func CheckFolder(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tc-credd-check-*")
	if err != nil {
		return fmt.Errorf("folder %s is missing or not writable by this user: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}
