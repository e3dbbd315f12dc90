// Command hashgate is the mining proxy that makes a Bitcoin fleet follow a site's power.
//
//	hashgate run -c hashgate.toml   run the proxy (and policy, console) from a config file
//	                                (-log-level, -log-format override [log])
//	hashgate check -c hashgate.toml validate a config file and say which key is wrong
//	hashgate demo                   run everything against simulated pools, miners and a site
//	hashgate keygen                 make Stratum V2 authority and server keys
//	hashgate simulate               judge the power policy on a simulated site
//	hashgate health -c FILE         ask the console whether hashgate is ready (container health checks)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/app"
	"github.com/hashgate/hashgate/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `hashgate: the mining proxy that makes a fleet follow the site's power

usage:
  hashgate run -c FILE      run from a config file (see hashgate.example.toml)
                            (-log-level debug|info|warn|error, -log-format json|console override [log])
  hashgate check -c FILE    validate a config file
  hashgate demo             run with simulated pools, miners and site on embedded defaults
  hashgate keygen [-dir D]  make Stratum V2 authority and server keys
  hashgate hash-password    read a password on stdin, print its hash for [[console.user]]
                            (-token: make an API token and its token_hash for [[console.token]])
  hashgate health [-c FILE] ask the console whether hashgate is ready (-live: alive); exit 0 or 1
  hashgate simulate         run the power policy on a simulated site beside a baseline (-list, -scenario, -seeds)
  hashgate version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is hashgate with its arguments; it returns the exit code: 0 for done or for usage asked
// for (-h, help), 1 for a failure, 2 for a command line that is wrong.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, args := args[0], args[1:]; cmd {
	case "run":
		err = cmdRun(ctx, args, stderr)
	case "check":
		err = cmdCheck(args, stdout)
	case "demo":
		err = cmdDemo(args)
	case "keygen":
		err = cmdKeygen(args, stdout)
	case "hash-password":
		err = cmdHashPassword(args, os.Stdin, stdout)
	case "health":
		err = cmdHealth(args, stdout)
	case "simulate":
		err = cmdSimulate(args, stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "hashgate", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hashgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) && errors.Is(ue.err, flag.ErrHelp):
		ue.print(stdout)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hashgate %s: %v\n", ue.fs.Name(), ue.err)
		ue.print(stderr)
		return 2
	}
	fmt.Fprintln(stderr, "hashgate:", err)
	return 1
}

// usageError is a command line its flag set refused, or -h: the caller prints the flags to
// stdout when they were asked for and to stderr with the error otherwise.
type usageError struct {
	fs  *flag.FlagSet
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func (e *usageError) print(w io.Writer) {
	fmt.Fprintf(w, "usage: hashgate %s [flags]\n", e.fs.Name())
	e.fs.SetOutput(w)
	e.fs.PrintDefaults()
}

// parseFlags parses a subcommand's flags, leaving what to print to run.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return &usageError{fs: fs, err: err}
	}
	return nil
}

// newLogger writes JSON to w, or a readable form (format console or pretty, or unset on a
// terminal).
func newLogger(w io.Writer, level, format string) zerolog.Logger {
	if f, ok := w.(*os.File); format == "console" || format == "pretty" || format == "" && ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !ok}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func configFlag(name string, args []string) (string, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("c", "hashgate.toml", "config file")
	if err := parseFlags(fs, args); err != nil {
		return "", fs, err
	}
	return *path, fs, nil
}

func cmdCheck(args []string, out io.Writer) error {
	path, _, err := configFlag("check", args)
	if err != nil {
		return err
	}
	f, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(out, "%s: ok (%d listeners, %d pools, %d meters, %d fleet groups, policy %v)\n",
		path, len(f.Listener), len(f.Pool), len(f.Meter), len(f.Fleet), f.Policy != nil)
	for _, w := range f.Warnings() {
		fmt.Fprintf(out, "%s: warning: %s\n", path, w)
	}
	return nil
}

// cmdRun runs hashgate until ctx ends. -log-level and -log-format override [log] for one run
// (a debug session without editing the deployed file).
func cmdRun(ctx context.Context, args []string, logOut io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("c", "hashgate.toml", "config file")
	level := fs.String("log-level", "", "debug, info, warn or error (default: [log] level)")
	format := fs.String("log-format", "", "json or console (default: [log] format, console on a terminal)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *level {
	case "", "trace", "debug", "info", "warn", "error":
	default:
		return &usageError{fs: fs, err: fmt.Errorf("-log-level: %q is not debug, info, warn or error", *level)}
	}
	switch *format {
	case "", "json", "console":
	default:
		return &usageError{fs: fs, err: fmt.Errorf("-log-format: %q is not json or console", *format)}
	}
	f, err := config.Load(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	if *level != "" {
		f.Log.Level = *level
	}
	if *format != "" {
		f.Log.Format = *format
	}
	log := newLogger(logOut, f.Log.Level, f.Log.Format)
	app.Version = version
	// SIGHUP upgrades: see serve.
	return serve(ctx, f, log)
}
