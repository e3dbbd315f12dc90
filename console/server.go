package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"io/fs"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
)

//go:embed assets
var assetFS embed.FS

// ErrNoBackend is returned by New without a Backend.
var ErrNoBackend = errors.New("console: a Backend is required")

// Options are the Server's collaborators. Zero fields have the stated defaults.
type Options struct {
	// Logger receives the console's logs; the zero value discards them.
	Logger zerolog.Logger
	// Clock drives the update ticker and session expiry; nil means clock.Real.
	Clock clock.Clock
	// Version is the build version shown in the UI and in hashgate_build_info.
	Version string
}

// Server is the console: UI, REST API, websocket, /metrics and /healthz.
type Server struct {
	cfg     Config
	b       Backend
	log     zerolog.Logger
	clk     clock.Clock
	version string
	auth    *auth
	hub     *hub
	reg     *prometheus.Registry
	metrics *collector
	handler http.Handler

	dropCounts dropCounter
	probe      storeProbe  // the store check of /readyz
	ready      atomic.Bool // the last /readyz answer, to log changes

	startOnce sync.Once
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// New validates cfg and builds a Server. Call Start (or ListenAndServe) to begin live
// updates, and Close to end them.
func New(cfg Config, b Backend, opts Options) (*Server, error) {
	if b == nil {
		return nil, ErrNoBackend
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	s := &Server{cfg: cfg, b: b, clk: opts.Clock, version: opts.Version,
		log: opts.Logger.With().Str("component", "console").Logger()}
	if s.version == "" {
		s.version = "dev"
	}
	var err error
	if s.auth, err = newAuth(&s.cfg, s.clk.Now); err != nil {
		return nil, err
	}
	s.hub = newHub(b, s.clk, s.log, cfg.UpdateInterval.D(), cfg.ClientQueue)
	s.reg = prometheus.NewRegistry()
	s.metrics = newCollector(s)
	s.reg.MustRegister(s.metrics)
	// The runtime's series (goroutines, heap, GC, open fds, resident memory) tell a leak in
	// hashgate from a change in the fleet on the same scrape.
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.handler = s.routes()
	return s, nil
}

// Handler returns the console's HTTP handler (for tests or mounting elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the Prometheus registry behind /metrics, so the wiring can add its own
// collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Start begins live updates and the policy event feed; they stop at Close or when ctx ends.
// It is idempotent.
func (s *Server) Start(ctx context.Context) {
	s.startOnce.Do(func() {
		ctx, s.stop = context.WithCancel(ctx)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.hub.run(ctx)
		}()
		if sub := s.b.Subscribe(1024); sub != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.hub.consume(ctx, sub)
			}()
		}
	})
}

// Close stops live updates, disconnects websocket clients and waits for the goroutines.
// It is idempotent; it does not close listeners (ListenAndServe does that).
func (s *Server) Close() error {
	s.startOnce.Do(func() { close(s.hub.done) }) // never started: make waits return
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
	return nil
}

// ListenAndServe listens on cfg.Address (HTTPS when tls_cert/tls_key are set) and serves
// until ctx ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return err
	}
	return s.Serve(ctx, l)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.Start(ctx)
	defer s.Close()
	// ReadTimeout bounds headers and body together: a client trickling a body a byte at a
	// time is cut off. gorilla/websocket clears the deadlines when it takes the connection
	// over, and the websocket read loop sets its own.
	rt := s.cfg.ReadTimeout.D()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: min(rt, maxHeaderWait),
		ReadTimeout:       rt,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverErrorLog{s.log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})}, "", 0),
	}
	if s.cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			_ = l.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.log.Info().Str("address", l.Addr().String()).Bool("tls", s.cfg.TLS()).Bool("auth", s.cfg.AuthConfigured()).Msg("console listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close() // ends websocket clients, which Shutdown does not wait for
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // a client still silent after the grace period is cut off
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes builds the mux. Read endpoints need a viewer, control endpoints an admin plus a
// CSRF check; the UI's static assets hold no data and are public.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assetFS, "assets")
	files := http.FileServerFS(static)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)

	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
	if s.cfg.PublicMetrics {
		mux.Handle("GET /metrics", metrics)
	} else {
		mux.Handle("GET /metrics", s.read(func(w http.ResponseWriter, r *http.Request, _ identity) { metrics.ServeHTTP(w, r) }))
	}

	mux.HandleFunc("POST /api/v1/login", s.handleLogin)
	mux.HandleFunc("POST /api/v1/logout", s.handleLogout)
	mux.Handle("GET /api/v1/me", s.read(s.handleMe))
	mux.Handle("GET /api/v1/snapshot", s.read(s.handleSnapshot))
	mux.Handle("GET /api/v1/overview", s.read(s.handleOverview))
	mux.Handle("GET /api/v1/status", s.read(s.handleStatus))
	mux.Handle("GET /api/v1/history", s.read(s.handleHistory))
	mux.Handle("GET /api/v1/workers", s.read(s.handleWorkers))
	mux.Handle("GET /api/v1/workers/{id}", s.read(s.handleWorker))
	mux.Handle("GET /api/v1/workers/{name}/hashrate", s.read(s.handleWorkerHashrate))
	mux.Handle("GET /api/v1/pools", s.read(s.handlePools))
	mux.Handle("GET /api/v1/policy", s.read(s.handlePolicy))
	mux.Handle("GET /api/v1/meters", s.read(s.handleMeters))
	mux.Handle("GET /api/v1/decisions", s.read(s.handleDecisions))
	mux.Handle("GET /api/v1/events", s.read(s.handleEvents))
	mux.Handle("GET /api/v1/alerts", s.read(s.handleAlerts))
	mux.Handle("GET /api/v1/ws", s.read(s.serveWS))
	s.energyRoutes(mux)
	s.clusterRoutes(mux)
	s.siteRoutes(mux)

	mux.Handle("PUT /api/v1/policy/cap", s.control(s.handleSetCap))
	mux.Handle("DELETE /api/v1/policy/cap", s.control(s.handleClearCap))
	mux.Handle("POST /api/v1/groups/{name}/pause", s.control(s.handleGroup(true)))
	mux.Handle("POST /api/v1/groups/{name}/resume", s.control(s.handleGroup(false)))
	mux.Handle("POST /api/v1/dr", s.control(s.handleScheduleDR))
	mux.Handle("DELETE /api/v1/dr/{id}", s.control(s.handleCancelDR))
	mux.Handle("POST /api/v1/workers/{name}/pause", s.control(s.handleWorkerGate(true)))
	mux.Handle("POST /api/v1/workers/{name}/resume", s.control(s.handleWorkerGate(false)))
	mux.Handle("POST /api/v1/workers/bulk", s.control(s.handleBulk))
	s.poolRoutes(mux)

	mux.HandleFunc("POST /api/v1/meters/{name}/push", s.handleMeterPush)
	return s.recoverPanics(s.hostGuard(securityHeaders(mux)))
}

// serverErrorLog takes net/http's own complaints (failed TLS handshakes, malformed requests
// it answers itself) into the console's log, sampled: a scanner can cause them at any rate.
type serverErrorLog struct{ log zerolog.Logger }

func (l serverErrorLog) Write(p []byte) (int, error) {
	l.log.Info().Str("error", strings.TrimSpace(string(p))).Msg("console connection error")
	return len(p), nil
}

// maxHeaderWait bounds the wait for request headers when read_timeout is longer.
const maxHeaderWait = 10 * time.Second

// hostGuard answers 421 to a request whose Host the console does not serve. Without accounts
// anyone who reaches the port may read the console, which Validate allows on loopback only;
// a browser that loads evil.example, re-resolved to 127.0.0.1, would still send
// "Host: evil.example", so only loopback names and allowed_hosts are served then.
func (s *Server) hostGuard(next http.Handler) http.Handler {
	if s.auth.configured() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.log.Info().Str("remote", r.RemoteAddr).Str("host", r.Host).Msg("console request refused: host not served")
			writeError(w, http.StatusMisdirectedRequest, "host "+strconv.Quote(r.Host)+
				" is not served: without console users or tokens only localhost, loopback addresses and allowed_hosts are")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler's panic into a 500 and a log line. net/http would recover
// too, but silently and by dropping the connection; here the client gets an answer.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // the handler's way to abort a response: net/http handles it
			}
			s.log.Error().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
				Interface("panic", v).Bytes("stack", debug.Stack()).Msg("console handler panicked")
			writeError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders forbids framing, sniffing and every script or connection not from the
// console itself (the UI loads nothing external).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type authedFunc func(http.ResponseWriter, *http.Request, identity)

// read requires a viewer.
func (s *Server) read(f authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.auth.identify(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hashgate"`)
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		f(w, r, id) // every role can read
	})
}

// control requires an admin and passes the CSRF check.
func (s *Server) control(f authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.auth.identify(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="hashgate"`)
			writeError(w, http.StatusUnauthorized, "authentication required")
		case !id.role.can(RoleAdmin):
			writeError(w, http.StatusForbidden, "this action needs the admin role")
		case !s.csrfOK(r, id):
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token or origin")
		default:
			f(w, r, id)
		}
	})
}

// dropCounter counts the console's own drops by reason.
type dropCounter struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (d *dropCounter) add(reason string) {
	d.mu.Lock()
	if d.n == nil {
		d.n = make(map[string]uint64)
	}
	d.n[reason]++
	d.mu.Unlock()
}

func (d *dropCounter) snapshot() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.n))
	for k, v := range d.n {
		out[k] = v
	}
	return out
}
