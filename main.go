// Command ocirun is an OCI runtime: runc's command line over ocirun's own engine.
//
// Every ocirun process is short-lived: GOMAXPROCS is the CPU count, not
// sized to a cgroup CPU limit, and the runtime starts no goroutine to follow
// that limit (Go 1.26 still reads the cgroup once at start, for its metrics).
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
)

// version and commit are set at build time with -ldflags "-X main.version=...".
var (
	version = "0.1.0-dev"
	commit  = ""
)

// The container's Go init changes its credentials and namespaces thread by
// thread: it stays on the main thread, the one it started on. Every other
// command lets its main goroutine run on any thread (a locked goroutine that
// blocks hands its thread over and back at each wait); create's builder,
// which changes its own thread's namespaces and root, keeps off the main
// thread by itself (libcontainer/parent_build.go).
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.LockOSThread()
	}
}

func main() {
	// The container's init takes the shortest path: no flag parsing, no logging set-up.
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv(nsenter.EnvInitPipe) != "" {
		libcontainer.Init()
		return
	}
	app := newApp()
	if ran, err := runDirect(app, os.Args); ran {
		if err != nil {
			fatal(app, err)
		}
		return
	}
	if err := app.Run(os.Args); err != nil {
		fatal(app, err)
	}
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("ocirun version %s\nspec: %s\n", version, specs.Version)
		if commit != "" {
			fmt.Printf("commit: %s\n", commit)
		}
		fmt.Printf("go: %s\n", runtime.Version())
	}
	commands := []*cli.Command{
		checkpointCommand, createCommand, deleteCommand, eventsCommand, execCommand, featuresCommand, initCommand, killCommand,
		listCommand, pauseCommand, psCommand, restoreCommand, resumeCommand, runCommand, specCommand,
		startCommand, stateCommand, updateCommand,
	}
	for _, c := range commands {
		// urfave/cli v2 gives every command a help subcommand: `delete -f
		// help` would print delete's help. runc (urfave/cli v1) takes
		// "help" there for a container id, and so does ocirun; `ocirun help
		// delete` and `delete --help` still print it.
		c.HideHelpCommand = true
	}
	return &cli.App{
		Name:                 "ocirun",
		Usage:                "Open Container Initiative runtime",
		Version:              version,
		EnableBashCompletion: false,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
			&cli.StringFlag{Name: "log", Usage: "set the log file to write ocirun logs to (default is stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "set the log format ('text' (default), or 'json')"},
			&cli.StringFlag{Name: "root", Value: "/run/ocirun", Usage: "root directory for storage of container state"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "use systemd for cgroups (not supported: no systemd driver yet)"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "path to the criu binary used for checkpoint and restore"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignore cgroup permission errors ('true', 'false', or 'auto')"},
		},
		Before:         setupLogging,
		Commands:       commands,
		ExitErrHandler: func(*cli.Context, error) {}, // errors go through fatal, once
		Metadata:       map[string]interface{}{},
	}
}

// setupLogging directs slog to --log in --log-format (json lines as
// containerd's shim reads them: level, msg, time).
func setupLogging(c *cli.Context) error {
	if c.Bool("systemd-cgroup") {
		return fmt.Errorf("--systemd-cgroup: the systemd cgroup driver is not supported by ocirun")
	}
	var w io.Writer = os.Stderr
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file %s: %w", p, err)
		}
		w = f
		c.App.Metadata["logfile"] = true
	}
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: logrusLevels}
	var h slog.Handler
	switch c.String("log-format") {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return fmt.Errorf("--log-format %q: must be text or json", c.String("log-format"))
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// logrusLevels writes levels as runc (logrus) does: "warning", "error", lower case.
func logrusLevels(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		lvl := strings.ToLower(a.Value.String())
		if lvl == "warn" {
			lvl = "warning"
		}
		return slog.String(slog.LevelKey, lvl)
	}
	return a
}

// fatal reports an error as one line on stderr, and in the log file when
// there is one (containerd's shim reads the error from there), and exits 1.
func fatal(app *cli.App, err error) {
	fatalWith(app, err, 1)
}

func fatalWith(app *cli.App, err error, code int) {
	if app.Metadata["logfile"] == true {
		slog.Error(err.Error())
	}
	fmt.Fprintln(os.Stderr, "ocirun: "+err.Error())
	os.Exit(code)
}
