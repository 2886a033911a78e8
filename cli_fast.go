package main

import (
	"flag"
	"io"

	"github.com/urfave/cli/v2"
)

// runDirect runs the command line the way app.Run does when that line is
// plain: global flags, a command without subcommands, its flags, its
// arguments. It parses them with the commands' own flag definitions
// (cli.Flag.Apply, the flag package) and calls the same Before and Action
// with the same cli.Context, but skips urfave/cli's set-up of every command
// and its name lookups: ~0.15 ms of each ocirun command's CPU here
// (docs/PERFORMANCE.md, twelfth round). Anything else (help, version, an
// unknown command or flag, a value that does not parse, two forms of one
// flag) it leaves untouched, reporting ran false, and app.Run then does it
// all and says what is wrong in its own words. A command's first argument
// "help" or "h" it leaves to app.Run too: its help subcommand.
func runDirect(app *cli.App, args []string) (ran bool, err error) {
	if len(args) < 2 {
		return false, nil
	}
	global, ok := parseFlags(args[0], app.Flags, args[1:])
	if !ok || global.NArg() == 0 {
		return false, nil
	}
	cmd := findCommand(app, global.Arg(0))
	if cmd == nil {
		return false, nil
	}
	local, ok := parseFlags(cmd.Name, cmd.Flags, global.Args()[1:])
	if !ok {
		return false, nil
	}
	// app.Run gives every command a help subcommand ("help", "h") unless
	// it hides it: a first argument of that name asks for help.
	if !cmd.HideHelp && !cmd.HideHelpCommand && (local.Arg(0) == "help" || local.Arg(0) == "h") {
		return false, nil
	}
	appCtx := cli.NewContext(app, global, &cli.Context{})
	ctx := cli.NewContext(app, local, appCtx)
	ctx.Command = cmd
	if app.Before != nil {
		if err := app.Before(appCtx); err != nil {
			return true, err
		}
	}
	if err := runFlagActions(appCtx, app.Flags, global); err != nil {
		return true, err
	}
	if err := runFlagActions(ctx, cmd.Flags, local); err != nil {
		return true, err
	}
	return true, cmd.Action(ctx)
}

// findCommand is the command named so, if app.Run would run it directly:
// an action, no subcommands, flags parsed, no hooks of its own, no
// required flag (whose absence app.Run answers with help).
func findCommand(app *cli.App, name string) *cli.Command {
	for _, c := range app.Commands {
		if c.Name != name {
			continue
		}
		if c.Action == nil || len(c.Subcommands) > 0 || c.SkipFlagParsing || c.UseShortOptionHandling ||
			c.Before != nil || c.After != nil || c.OnUsageError != nil {
			return nil
		}
		for _, f := range c.Flags {
			if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
				return nil
			}
		}
		return c
	}
	return nil
}

// parseFlags parses args with flags as urfave/cli does (its flagSet and
// normalizeFlags): each flag applied under each of its names, and a value
// given under one name copied to the others. ok is false for anything
// app.Run would answer with usage or help.
func parseFlags(name string, flags []cli.Flag, args []string) (*flag.FlagSet, bool) {
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		if f == cli.HelpFlag || f == cli.VersionFlag {
			continue // app.Run's, once it has set a command up: -h is its to answer
		}
		if err := f.Apply(set); err != nil {
			return nil, false
		}
	}
	if err := set.Parse(args); err != nil {
		return nil, false
	}
	visited := map[string]bool{}
	set.Visit(func(f *flag.Flag) { visited[f.Name] = true })
	for _, f := range flags {
		names := f.Names()
		var given *flag.Flag
		for _, n := range names {
			if visited[n] {
				if given != nil {
					return nil, false // two forms of one flag: urfave/cli's error
				}
				given = set.Lookup(n)
			}
		}
		if given == nil || len(names) == 1 {
			continue
		}
		value := given.Value.String()
		if s, ok := given.Value.(cli.Serializer); ok {
			value = s.Serialize()
		}
		for _, n := range names {
			if !visited[n] {
				if err := set.Set(n, value); err != nil {
					return nil, false
				}
			}
		}
	}
	return set, true
}

// runFlagActions calls the Action of each flag given, as app.Run does.
func runFlagActions(ctx *cli.Context, flags []cli.Flag, set *flag.FlagSet) error {
	given := map[string]bool{}
	set.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, f := range flags {
		af, ok := f.(cli.ActionableFlag)
		if !ok {
			continue
		}
		for _, n := range f.Names() {
			if given[n] || f.IsSet() {
				if err := af.RunAction(ctx); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}
