package libcontainer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// runHooks runs hooks of one kind in order with the state JSON on stdin and
// stops at the first failure, as the runtime-spec asks of every kind but
// poststart and poststop.
func runHooks(kind string, hooks []configs.Hook, state OCIState) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state for %s hooks: %w", kind, err)
	}
	for i, h := range hooks {
		if err := runHook(h, data); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// runWarnHooks runs every hook of a kind whose failures only warn (poststart, poststop).
func runWarnHooks(kind string, hooks []configs.Hook, state OCIState) {
	data, err := json.Marshal(state)
	if err != nil {
		slog.Warn("encode state for hooks", "kind", kind, "error", err)
		return
	}
	for i, h := range hooks {
		if err := runHook(h, data); err != nil {
			slog.Warn(fmt.Sprintf("%s hook #%d (%s) failed: %v", kind, i, h.Path, err))
		}
	}
}

func runPoststopHooks(hooks []configs.Hook, state OCIState) {
	runWarnHooks("poststop", hooks, state)
}

// runHook runs one hook: argv as given (args[0] included, as execv takes it),
// exactly the hook's env, killed when its timeout passes.
func runHook(h configs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return err
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
