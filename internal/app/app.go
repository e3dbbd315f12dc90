// Package app assembles hashgate from its parts — store, proxy, listeners, power policy,
// meters, firmware drivers and console — for `hashgate run` and `hashgate demo`. It holds
// wiring only; every behaviour lives in the parts.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/alert"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
	"github.com/hashgate/hashgate/stratum/noise"
)

// Version is the build version shown by the console.
var Version = "dev"

// App is a running hashgate.
type App struct {
	cfg   *config.File
	log   zerolog.Logger
	Store *store.Store
	Proxy *proxy.Proxy
	// Addrs are the bound listener addresses, in config order.
	Addrs []net.Addr
	// ConsoleAddr is where the console listens.
	ConsoleAddr net.Addr
	// Power owns per-miner control state: the gate's holds, the inventory, the policy runner
	// (nil without a [policy] table), meters and telemetry. Always set: operator holds work
	// without a policy too.
	Power *power.Controller
	// Alerts checks for trouble an operator must hear about and notifies [[alert.webhook]].
	Alerts  *alert.Engine
	cancel  context.CancelFunc
	closers []func() error
	wg      sync.WaitGroup
}

// Start opens the store, starts the proxy and its listeners. Close stops everything.
func Start(ctx context.Context, cfg *config.File, log zerolog.Logger) (*App, error) {
	a := &App{cfg: cfg, log: log}
	ctx, a.cancel = context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	st, err := store.Open(ctx, cfg.Store, log.With().Str("sub", "store").Logger())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.Store = st
	a.closers = append(a.closers, st.Close)

	plog := log.With().Str("sub", "proxy").Logger()
	px, err := proxy.New(cfg.ProxyConfig(), proxy.Options{Logger: &plog, Sink: ledger{st: st, log: log}})
	if err != nil {
		return nil, err
	}
	a.Proxy = px
	a.closers = append(a.closers, px.Close)
	if err := a.restorePools(ctx); err != nil { // the console's pool edits, before miners see the pools
		return nil, err
	}
	// Before the proxy takes miners: restored pauses and operator holds must hold from the
	// first connection.
	pw, err := power.New(ctx, cfg.Power, power.Options{Policy: cfg.Policy, Fleet: cfg.Fleet, Meters: cfg.Meter,
		Proxy: px, Store: st, Logger: log.With().Str("sub", "power").Logger()})
	if err != nil {
		return nil, err
	}
	a.Power = pw
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := pw.Run(ctx); err != nil {
			log.Error().Err(err).Msg("power controller stopped")
		}
	}()
	px.Start(ctx)
	for i, l := range cfg.Listener {
		switch l.Protocol {
		case "sv1":
			var addr net.Addr
			var err error
			if l.TLSCertFile != "" {
				addr, err = px.ListenV1TLS(l.Address, l.TLSCertFile, l.TLSKeyFile)
			} else {
				addr, err = px.ListenV1(l.Address)
			}
			if err != nil {
				return nil, fmt.Errorf("listener[%d]: %w", i, err)
			}
			a.Addrs = append(a.Addrs, addr)
			log.Info().Str("protocol", "sv1").Bool("tls", l.TLSCertFile != "").Str("address", addr.String()).Msg("listening for miners")
		case "sv2":
			kf, err := noise.ReadKeyFile(l.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("listener[%d].key_file: %w", i, err)
			}
			static, cert, authority, err := kf.Server()
			if err != nil {
				return nil, fmt.Errorf("listener[%d].key_file: %w", i, err)
			}
			if now := time.Now(); now.After(cert.NotValidAfterTime()) {
				return nil, fmt.Errorf("listener[%d].key_file: certificate expired at %s (hashgate keygen -authority ...)", i, cert.NotValidAfterTime().UTC().Format(time.RFC3339))
			}
			addr, err := px.ListenV2(l.Address, static, cert)
			if err != nil {
				return nil, fmt.Errorf("listener[%d]: %w", i, err)
			}
			a.Addrs = append(a.Addrs, addr)
			log.Info().Str("protocol", "sv2").Str("address", addr.String()).Str("authority", noise.EncodeAuthorityKey(authority)).
				Time("certificate_valid_until", cert.NotValidAfterTime()).Msg("listening for miners")
		default:
			return nil, fmt.Errorf("listener[%d].protocol: %q is not supported", i, l.Protocol)
		}
	}
	ae, err := alert.New(cfg.Alert, alertSource{a}, alert.Options{Logger: log.With().Str("sub", "alert").Logger()})
	if err != nil {
		return nil, err
	}
	a.Alerts = ae
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ae.Run(ctx)
	}()
	cs, err := console.New(cfg.Console, backend{a}, console.Options{Logger: log.With().Str("sub", "console").Logger(), Version: Version})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	cl, err := net.Listen("tcp", cfg.Console.Address)
	if err != nil {
		return nil, fmt.Errorf("console.address: %w", err)
	}
	a.ConsoleAddr = cl.Addr()
	a.closers = append(a.closers, cs.Close)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := cs.Serve(ctx, cl); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("console stopped")
		}
	}()
	scheme := "http"
	if cfg.Console.TLS() {
		scheme = "https"
	}
	log.Info().Str("url", scheme+"://"+cl.Addr().String()).Msg("console listening")
	ok = true
	return a, nil
}

// Close stops everything in reverse order of start. It is safe to call more than once.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}
