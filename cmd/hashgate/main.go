// Command hashgate is the mining proxy that makes a Bitcoin fleet follow a site's power.
//
//	hashgate run -c hashgate.toml   run the proxy (and policy, console) from a config file
//	hashgate check -c hashgate.toml validate a config file and say which key is wrong
//	hashgate demo                   run everything against simulated pools, miners and a site
//	hashgate keygen                 make Stratum V2 authority and server keys
//	hashgate simulate               judge the power policy on a simulated site
//	hashgate health -c FILE         ask the console whether hashgate is ready (container health checks)
package main

import (
	"context"
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
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = cmdRun(args)
	case "check":
		err = cmdCheck(args, os.Stdout)
	case "demo":
		err = cmdDemo(args)
	case "keygen":
		err = cmdKeygen(args, os.Stdout)
	case "hash-password":
		err = cmdHashPassword(args, os.Stdin, os.Stdout)
	case "health":
		err = cmdHealth(args, os.Stdout)
	case "simulate":
		err = cmdSimulate(args, os.Stdout)
	case "version", "-version", "--version":
		fmt.Println("hashgate", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "hashgate: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hashgate:", err)
		os.Exit(1)
	}
}

// newLogger writes JSON to stderr, or a readable form when stderr is a terminal.
func newLogger(level, format string) zerolog.Logger {
	var w io.Writer = os.Stderr
	if format == "pretty" || format == "" && isatty.IsTerminal(os.Stderr.Fd()) {
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}
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
	if err := fs.Parse(args); err != nil {
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
	return nil
}

func cmdRun(args []string) error {
	path, _, err := configFlag("run", args)
	if err != nil {
		return err
	}
	f, err := config.Load(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	log := newLogger(f.Log.Level, f.Log.Format)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.Version = version
	a, err := app.Start(ctx, f, log)
	if err != nil {
		return err
	}
	log.Info().Str("version", version).Msg("hashgate running")
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return a.Close()
}
