package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// recordingApp is newApp with copies of its commands (app.Run gives each
// command it runs a help subcommand, and ocirun runs once per process) whose
// actions record what they were given: each flag's value and whether it is
// set, under each of its names, the arguments and the command's name.
func recordingApp(got *string) *cli.App {
	app := newApp()
	for i, orig := range app.Commands {
		cmd := *orig
		app.Commands[i] = &cmd
		cmd.Action = func(c *cli.Context) error {
			var b strings.Builder
			fmt.Fprintf(&b, "command %s args %q\n", c.Command.Name, c.Args().Slice())
			for _, f := range append(append([]cli.Flag{}, app.Flags...), cmd.Flags...) {
				if f == cli.HelpFlag || f == cli.VersionFlag {
					continue // app.Run adds them to the commands it has set up
				}
				for _, n := range f.Names() {
					fmt.Fprintf(&b, "%s=%v set=%v\n", n, c.Value(n), c.IsSet(n))
				}
			}
			*got = b.String()
			return nil
		}
	}
	return app
}

// TestRunDirectLikeApp: every command line runDirect runs gives the action
// what app.Run gives it.
func TestRunDirectLikeApp(t *testing.T) {
	lines := [][]string{
		{"create", "--bundle", "/b", "c1"},
		{"create", "-b", "/b", "c1"},
		{"create", "--bundle=/b", "--pid-file", "/p", "--preserve-fds", "2", "c1"},
		{"create", "-preserve-fds=3", "-no-pivot", "-no-new-keyring", "c1"},
		{"create", "c1", "--bundle", "/b"}, // flags after the id are arguments, as in runc
		{"--root", "/r", "--log-format", "json", "state", "c1"},
		{"--root=/r", "--debug", "delete", "-f", "c1"},
		{"delete", "--force=false", "c1"},
		{"start", "c1"},
		{"kill", "c1", "9"},
		{"kill", "c1", "help"},
		{"kill", "--all", "c1", "KILL"},
		{"-root", "/r", "kill", "-a=true", "c1"},
		{"exec", "--tty", "-u", "1000:1000", "--env", "A=1", "--env", "B=2", "-c", "CAP_KILL", "-g", "5", "-g", "6", "c1", "sh", "-c", "x"},
		{"exec", "--cap", "CAP_CHOWN", "--additional-gids", "7", "--cwd", "/tmp", "-d", "c1", "ls", "-l"},
		{"exec", "-e", "A=1", "--process", "/p.json", "c1"},
		{"exec", "c1", "--", "ls"},
		{"run", "-d", "--bundle", "/b", "--no-subreaper", "c1"},
		{"run", "-no-subreaper", "--keep", "c1"},
		{"ps", "--format", "json", "c1"},
		{"update", "--memory", "1m", "--pids-limit", "5", "c1"},
		{"pause", "c1"},
		{"list", "-q"},
		{"--", "state", "c1"},
		{"state"}, // the action says what is missing
		// a container named help or h, as runc takes it (newApp hides the help subcommands)
		{"kill", "help"}, {"state", "h"}, {"delete", "-f", "help"}, {"list", "h"},
		{"exec", "help", "sh"}, {"create", "--bundle", "/b", "--", "h"}, {"run", "-d", "-b", "/b", "h"},
	}
	for _, line := range lines {
		args := append([]string{"ocirun"}, line...)
		var direct, full string
		ran, err := runDirect(recordingApp(&direct), args)
		if !ran || err != nil {
			t.Errorf("%q: runDirect ran %v, error %v", line, ran, err)
			continue
		}
		if err := recordingApp(&full).Run(args); err != nil {
			t.Errorf("%q: app.Run: %v", line, err)
			continue
		}
		if direct != full {
			t.Errorf("%q: runDirect gave the action\n%s\napp.Run gave it\n%s", line, direct, full)
		}
	}
}

// TestRunDirectLeavesTheRest: what app.Run answers with help, a version or a
// usage error, runDirect leaves to it, having done nothing.
func TestRunDirectLeavesTheRest(t *testing.T) {
	lines := [][]string{
		{},
		{"--help"}, {"-h"}, {"--version"}, {"-v"},
		{"help"}, {"help", "create"}, {"h"},
		{"create", "--help"}, {"create", "-h"}, {"state", "-help"},
		{"nosuch", "c1"},
		{"--nosuch", "state", "c1"},
		{"state", "--nosuch", "c1"},
		{"create", "-b", "/b", "--bundle", "/c", "c1"}, // two forms of one flag
		{"exec", "-c", "CAP_KILL", "--cap", "CAP_CHOWN", "c1"},
		{"--root"},
		{"--root", "/r"},
		{"kill", "--all=maybe", "c1"},
		{"create", "--preserve-fds", "x", "c1"},
		{"update", "--pids-limit", "many", "c1"},
	}
	for _, line := range lines {
		args := append([]string{"ocirun"}, line...)
		var got string
		app := recordingApp(&got)
		beforeRan := false
		app.Before = func(*cli.Context) error { beforeRan = true; return nil }
		ran, err := runDirect(app, args)
		if ran || err != nil || got != "" || beforeRan {
			t.Errorf("%q: runDirect ran %v (error %v, action %q, before %v): want it left to app.Run", line, ran, err, got, beforeRan)
		}
	}
}

// A command that keeps urfave/cli's help subcommand gets help for a first
// argument "help" or "h" from app.Run: runDirect leaves it.
func TestRunDirectLeavesHelpSubcommand(t *testing.T) {
	for _, line := range [][]string{{"kill", "help"}, {"state", "h"}, {"create", "--bundle", "/b", "--", "h"}} {
		var got string
		app := recordingApp(&got)
		for _, c := range app.Commands {
			c.HideHelpCommand = false
		}
		if ran, err := runDirect(app, append([]string{"ocirun"}, line...)); ran || err != nil || got != "" {
			t.Errorf("%q: runDirect ran %v (error %v, action %q): want it left to app.Run", line, ran, err, got)
		}
	}
}

// TestRunDirectBeforeFails: the global set-up's error ends the command
// before its action, as with app.Run.
func TestRunDirectBeforeFails(t *testing.T) {
	var got string
	ran, err := runDirect(recordingApp(&got), []string{"ocirun", "--log-format", "xml", "state", "c1"})
	if !ran || err == nil || !strings.Contains(err.Error(), "--log-format") || got != "" {
		t.Fatalf("ran %v, error %v, action %q: want the --log-format error and no action", ran, err, got)
	}
}
