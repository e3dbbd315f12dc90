package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
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
	mux.Handle("GET /api/v1/pools", s.read(s.handlePools))
	mux.Handle("GET /api/v1/policy", s.read(s.handlePolicy))
	mux.Handle("GET /api/v1/meters", s.read(s.handleMeters))
	mux.Handle("GET /api/v1/decisions", s.read(s.handleDecisions))
	mux.Handle("GET /api/v1/events", s.read(s.handleEvents))
	mux.Handle("GET /api/v1/ws", s.read(s.serveWS))

	mux.Handle("PUT /api/v1/policy/cap", s.control(s.handleSetCap))
	mux.Handle("DELETE /api/v1/policy/cap", s.control(s.handleClearCap))
	mux.Handle("POST /api/v1/groups/{name}/pause", s.control(s.handleGroup(true)))
	mux.Handle("POST /api/v1/groups/{name}/resume", s.control(s.handleGroup(false)))
	mux.Handle("POST /api/v1/dr", s.control(s.handleScheduleDR))
	mux.Handle("DELETE /api/v1/dr/{id}", s.control(s.handleCancelDR))
	mux.Handle("POST /api/v1/workers/{name}/pause", s.control(s.handleWorkerGate(true)))
	mux.Handle("POST /api/v1/workers/{name}/resume", s.control(s.handleWorkerGate(false)))

	mux.HandleFunc("POST /api/v1/meters/{name}/push", s.handleMeterPush)
	return securityHeaders(mux)
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
