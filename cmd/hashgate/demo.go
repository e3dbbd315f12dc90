package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashgate/hashgate/internal/demo"
)

// cmdDemo runs hashgate against simulated pools and miners on embedded defaults and prints a
// status line every few seconds; with -measure it samples the simulated site every second for
// that long instead, prints what mining made of the spare power and exits.
func cmdDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:3333", "Stratum V1 address for miners")
	consoleAddr := fs.String("console", "127.0.0.1:8080", "console address")
	miners := fs.Int("miners", 12, "simulated miners")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	measure := fs.Duration("measure", 0, "sample the simulated site every second for this long, print a report and exit")
	level := fs.String("log", "warn", "log level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(os.Stderr, *level, "")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *measure > 0 {
		*duration = *measure
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	d, err := demo.Start(ctx, demo.Options{Listen: *listen, Console: *consoleAddr, Miners: *miners, Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Printf(`hashgate demo is running
  console:            http://%s   (log in as %s / %s)
  miners connect to:  stratum+tcp://%s   (%d simulated miners are mining through it)
  pools (simulated):  primary and backup on loopback
  site (simulated):   %.0f kW import limit shared with an AI hall that bursts every 90 s
  database:           %s
`, d.App.ConsoleAddr, demo.User, demo.Password, d.App.Addrs[0], *miners, d.MeasuredSite().LimitKW, d.Dir)
	if *measure > 0 {
		fmt.Printf("Measuring for %s (Ctrl-C reports what was sampled so far).\n\n", *measure)
		r, err := d.Measure(ctx, time.Second)
		if err != nil {
			return err
		}
		_, err = r.WriteTo(os.Stdout)
		return err
	}
	fmt.Print("Press Ctrl-C to stop.\n\n")
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("stopping")
			return nil
		case <-t.C:
			st := d.App.Proxy.Status()
			if d.Site != nil && d.App.Power != nil {
				ai, mining, imp := d.Site.Power()
				b := d.App.Power.Runner().Basis()
				fmt.Printf("%s  site: import %5.1f kW of %3.0f  AI %5.1f kW  mining %5.1f kW (budget %5.1f, %s)\n",
					time.Now().Format(time.TimeOnly), imp, b.LimitKW, ai, mining, b.BudgetKW, b.Mode)
			}
			fmt.Printf("%s  miners %d (running %d, paused %d)  pool %-8s  hashrate %6.2f MH/s  shares: accepted %d, forwarded %d, pool accepted %d, rejected %d\n",
				time.Now().Format(time.TimeOnly), st.Miners, st.Running, st.Paused, st.ActivePool, st.Hashrate/1e6,
				st.Shares["accepted"], st.Shares["forwarded"], st.Shares["pool_accepted"],
				st.Shares["stale"]+st.Shares["duplicate"]+st.Shares["low_difficulty"]+st.Shares["invalid"]+st.Shares["pool_rejected"])
		}
	}
}
