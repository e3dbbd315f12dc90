package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/app"
	"github.com/hashgate/hashgate/internal/config"
)

// heldFile is the name of the file an upgrading process passes its closed gates in.
const heldFile = "hashgate-held-workers"

// serve runs hashgate until ctx ends, upgrading on SIGHUP: the executable at the same path
// (a new build, or the same one for a new config) starts with the listening sockets, and
// this process hands its miners over to it and exits once the new one is ready. A new process
// that fails before it is ready leaves this one serving.
func serve(ctx context.Context, f *config.File, log zerolog.Logger) error {
	// SIGHUP would end the process by default: claim it before anything can send it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	upg, err := tableflip.New(tableflip.Options{UpgradeTimeout: f.Upgrade.Timeout.D(), PIDFile: f.Upgrade.PIDFile})
	if err != nil {
		// Not on this OS (tableflip.ErrNotSupported), or this process already ran hashgate
		// once (tableflip allows one upgrader per process): serve all the same.
		log.Warn().Err(err).Msg("upgrades are off: SIGHUP is ignored; restart to upgrade")
		return servePlain(ctx, f, log, hup)
	}
	defer upg.Stop()
	opts := app.Options{Listen: upg.Listen}
	if upg.HasParent() {
		hg, held, err := readHeld(upg)
		if err != nil {
			return fmt.Errorf("upgrade: %w", err)
		}
		if hg != nil {
			defer hg.Close()
		}
		log.Info().Int("pid", os.Getpid()).Int("held_workers", len(held)).Msg("upgrade: taking over from the previous process")
		ready := func() error {
			if err := upg.Ready(); err != nil {
				return err
			}
			// Now, not once serving: the previous process exits after its drain, and systemd
			// must already follow this one.
			notifySystemd(log, "MAINPID="+strconv.Itoa(os.Getpid())+"\nREADY=1")
			return nil
		}
		opts.Handover = &app.Handover{Ready: ready, ParentGone: upg.WaitForParent, Paused: held, Held: hg}
	}
	a, err := app.StartWith(ctx, f, log, opts)
	if err != nil {
		return err
	}
	if !upg.HasParent() {
		// Writes the PID file; with a parent, Ready was part of the hand-over.
		if err := upg.Ready(); err != nil {
			a.Close()
			return fmt.Errorf("upgrade: %w", err)
		}
	}
	log.Info().Str("version", version).Int("pid", os.Getpid()).Msg("hashgate running")
	notifySystemd(log, "READY=1\nMAINPID="+strconv.Itoa(os.Getpid()))
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("shutting down")
			return a.Close()
		case <-hup:
		}
		start := time.Now()
		log.Info().Msg("upgrade: starting the new process (SIGHUP)")
		hg, err := passHeld(upg, a.Proxy.PausedWorkers())
		if err != nil {
			log.Error().Err(err).Msg("upgrade failed; this process keeps serving")
			continue
		}
		if err := upg.Upgrade(); err != nil {
			hg.Close()
			log.Error().Err(err).Msg("upgrade failed; this process keeps serving")
			continue
		}
		log.Info().Dur("took", time.Since(start)).Dur("drain", f.Upgrade.Drain.D()).
			Msg("upgrade: the new process is ready; handing the miners over")
		err = a.HandOver(ctx, f.Upgrade.Drain.D(), hg)
		hg.Close()
		return err
	}
}

// servePlain runs hashgate without hand-over until ctx ends.
func servePlain(ctx context.Context, f *config.File, log zerolog.Logger, hup <-chan os.Signal) error {
	a, err := app.Start(ctx, f, log)
	if err != nil {
		return err
	}
	log.Info().Str("version", version).Int("pid", os.Getpid()).Msg("hashgate running")
	notifySystemd(log, "READY=1")
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("shutting down")
			return a.Close()
		case <-hup:
			log.Warn().Msg("SIGHUP ignored: upgrades are off in this process")
		}
	}
}

// passHeld gives the new process the workers whose gate is closed here, in an unlinked file
// this process keeps writing to through the hand-over (app.HeldGates): the new process holds
// them until its power controller, restored from the store, takes over.
func passHeld(upg *tableflip.Upgrader, held []string) (*app.HeldGates, error) {
	fh, err := os.CreateTemp("", heldFile)
	if err != nil {
		return nil, err
	}
	os.Remove(fh.Name())
	hg := app.NewHeldGates(fh)
	if err := hg.Publish(held); err != nil {
		hg.Close()
		return nil, err
	}
	if err := upg.AddFile(heldFile, fh); err != nil {
		hg.Close()
		return nil, err
	}
	return hg, nil
}

// readHeld reads the workers the previous process held and keeps its file to follow them;
// none when it passed no file.
func readHeld(upg *tableflip.Upgrader) (*app.HeldGates, []string, error) {
	fh, err := upg.File(heldFile)
	if err != nil || fh == nil {
		return nil, nil, err
	}
	hg := app.NewHeldGates(fh)
	held, _, err := hg.Read()
	if err != nil {
		hg.Close()
		return nil, nil, err
	}
	return hg, held, nil
}

// notifySystemd sends state to the service manager when it asked for it (Type=notify sets
// NOTIFY_SOCKET). MAINPID= moves systemd's main process to a new one after an upgrade, before
// the old one exits (the unit's NotifyAccess=all lets a process other than the main one say
// it); without it systemd would take the old process's exit for the service's.
func notifySystemd(log zerolog.Logger, state string) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return
	}
	if name[0] == '@' {
		name = "\x00" + name[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn().Err(err).Msg("telling systemd failed")
	}
}
