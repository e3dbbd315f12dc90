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
	"github.com/hashgate/hashgate/cluster"
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
	// Cluster is this instance's membership in its site ([cluster]); nil runs alone.
	Cluster *cluster.Node
	// Desk is this instance's part of the site console ([cluster]); nil runs alone.
	Desk *cluster.Desk
	// Alerts checks for trouble an operator must hear about and notifies [[alert.webhook]].
	Alerts  *alert.Engine
	cancel  context.CancelFunc
	closers []func() error
	wg      sync.WaitGroup

	listen   func(network, addr string) (net.Listener, error)
	sink     *handoverLedger
	consoleL net.Listener // the console's socket, opened with the miners' (openListeners)
	heldOver []string     // gates closed by the previous process until the power controller is up
}

// Start opens the store, starts the proxy and its listeners. Close stops everything.
func Start(ctx context.Context, cfg *config.File, log zerolog.Logger) (*App, error) {
	return StartWith(ctx, cfg, log, Options{})
}

// StartWith is Start with listening sockets from opts.Listen and, for a process taking over
// from a previous one, the hand-over order of opts.Handover (upgrade.go).
func StartWith(ctx context.Context, cfg *config.File, log zerolog.Logger, opts Options) (*App, error) {
	a := &App{cfg: cfg, log: log, listen: opts.Listen}
	for _, w := range cfg.Warnings() {
		log.Warn().Msg(w)
	}
	if a.listen == nil {
		a.listen = net.Listen
	}
	ctx, a.cancel = context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	a.sink = newHandoverLedger(log)
	plog := log.With().Str("sub", "proxy").Logger()
	px, err := proxy.New(cfg.ProxyConfig(), proxy.Options{Logger: &plog, Sink: a.sink})
	if err != nil {
		return nil, err
	}
	a.Proxy = px
	a.closers = append(a.closers, px.Close)
	if opts.Handover != nil {
		err = a.takeOver(ctx, opts.Handover)
	} else {
		err = a.startFresh(ctx)
	}
	if err != nil {
		return nil, err
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
	cl := a.consoleL
	if cl == nil {
		if cl, err = a.listen("tcp", cfg.Console.Address); err != nil {
			return nil, fmt.Errorf("console.address: %w", err)
		}
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

// startFresh is a first start: the store and the power controller first, so restored pauses
// and operator holds hold from the first connection, then the pools and the listeners.
func (a *App) startFresh(ctx context.Context) error {
	if err := a.openStore(ctx); err != nil {
		return err
	}
	a.Proxy.Start(ctx)
	ls, err := a.openListeners()
	if err != nil {
		return err
	}
	return a.serve(ls)
}

// openStore opens the store, starts writing the share ledger to it and starts the power
// controller over it.
func (a *App) openStore(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	st, err := store.Open(ctx, cfg.Store, log.With().Str("sub", "store").Logger())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	a.Store = st
	a.sink.attach(st)
	if err := a.restorePools(ctx); err != nil { // the console's pool edits, before miners see the pools
		return err
	}
	sink, err := a.startCluster()
	if err != nil {
		return err
	}
	pw, err := power.New(ctx, cfg.Power, power.Options{Policy: cfg.Policy, Fleet: cfg.Fleet, Meters: cfg.Meter,
		Proxy: a.Proxy, Store: st, Sink: sink, Logger: log.With().Str("sub", "power").Logger()})
	if err != nil {
		return err
	}
	a.runCluster(ctx, pw)
	a.Power = pw
	a.releaseHeldOver()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := pw.Run(ctx); err != nil {
			log.Error().Err(err).Msg("power controller stopped")
		}
	}()
	return nil
}

// minerListener is one [[listener]]'s socket and what serving it needs.
type minerListener struct {
	cfg       proxy.ListenerConfig
	ln        net.Listener
	static    *noise.KeyPair
	cert      noise.Certificate
	authority noise.AuthorityPublicKey
}

// openListeners checks each [[listener]]'s keys and certificate and opens (or takes over) its
// socket, without accepting yet. The console's socket is taken too: a process taking over
// must claim every inherited socket before it says it is ready.
func (a *App) openListeners() ([]minerListener, error) {
	var ls []minerListener
	fail := func(err error) ([]minerListener, error) {
		for _, l := range ls {
			l.ln.Close()
		}
		return nil, err
	}
	for i, l := range a.cfg.Listener {
		ml := minerListener{cfg: l}
		switch l.Protocol {
		case "sv1":
		case "sv2":
			kf, err := noise.ReadKeyFile(l.KeyFile)
			if err != nil {
				return fail(fmt.Errorf("listener[%d].key_file: %w", i, err))
			}
			static, cert, authority, err := kf.Server()
			if err != nil {
				return fail(fmt.Errorf("listener[%d].key_file: %w", i, err))
			}
			if now := time.Now(); now.After(cert.NotValidAfterTime()) {
				return fail(fmt.Errorf("listener[%d].key_file: certificate expired at %s (hashgate keygen -authority ...)", i, cert.NotValidAfterTime().UTC().Format(time.RFC3339)))
			}
			ml.static, ml.cert, ml.authority = static, cert, authority
		default:
			return fail(fmt.Errorf("listener[%d].protocol: %q is not supported", i, l.Protocol))
		}
		ln, err := a.listen("tcp", l.Address)
		if err != nil {
			return fail(fmt.Errorf("listener[%d]: %w", i, err))
		}
		ml.ln = ln
		ls = append(ls, ml)
	}
	cl, err := a.listen("tcp", a.cfg.Console.Address)
	if err != nil {
		return fail(fmt.Errorf("console.address: %w", err))
	}
	a.consoleL = cl
	return ls, nil
}

// serve starts accepting miners on every listener.
func (a *App) serve(ls []minerListener) error {
	px, log := a.Proxy, a.log
	for i, l := range ls {
		addr := l.ln.Addr()
		switch l.cfg.Protocol {
		case "sv1":
			if l.cfg.TLSCertFile != "" {
				if err := px.ServeV1TLS(l.ln, l.cfg.TLSCertFile, l.cfg.TLSKeyFile); err != nil {
					closeAll(ls[i:])
					return fmt.Errorf("listener[%d]: %w", i, err)
				}
			} else {
				px.ServeV1(l.ln)
			}
			log.Info().Str("protocol", "sv1").Bool("tls", l.cfg.TLSCertFile != "").Str("address", addr.String()).Msg("listening for miners")
		case "sv2":
			if err := px.ServeV2(l.ln, l.static, l.cert, nil); err != nil {
				closeAll(ls[i:])
				return fmt.Errorf("listener[%d]: %w", i, err)
			}
			log.Info().Str("protocol", "sv2").Str("address", addr.String()).Str("authority", noise.EncodeAuthorityKey(l.authority)).
				Time("certificate_valid_until", l.cert.NotValidAfterTime()).Msg("listening for miners")
		}
		a.Addrs = append(a.Addrs, addr)
	}
	return nil
}

func closeAll(ls []minerListener) {
	for _, l := range ls {
		l.ln.Close()
	}
}

// closeDrain bounds how long Close waits for share verdicts held back by a slow disk.
const closeDrain = 30 * time.Second

// Close stops everything in reverse order of start, the store last: the proxy's last share
// verdicts reach it first. It is safe to call more than once.
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
	if a.consoleL != nil {
		a.consoleL.Close()
	}
	if a.Store != nil {
		// Pool verdicts still waiting for a slow disk go in before the store closes.
		if a.sink != nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeDrain)
			if n := a.sink.drain(ctx); n > 0 {
				a.log.Warn().Int("events", n).Dur("waited", closeDrain).Msg("pool verdicts still waiting for the store at close are not recorded")
			}
			cancel()
		}
		if err := a.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
