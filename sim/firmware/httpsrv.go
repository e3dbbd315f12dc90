package firmware

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// httpServer runs one simulated REST endpoint with the miner's faults
// applied in front of the firmware's own handler.
type httpServer struct {
	miner *Miner
	log   zerolog.Logger
	// h2c serves HTTP/2 cleartext with prior knowledge only (gRPC).
	h2c bool

	mu  sync.Mutex
	srv *http.Server
	wg  sync.WaitGroup
}

func (s *httpServer) listen(addr string, h http.Handler) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: s.faulty(h), ReadHeaderTimeout: 10 * time.Second}
	if s.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn().Err(err).Msg("sim http serve failed")
		}
	})
	return ln.Addr(), nil
}

// HugeHeaderBytes is about how many header bytes FaultHugeHeaders adds to
// a reply.
const HugeHeaderBytes = 4 << 20

// faulty applies stall, garbage and header faults; auth and write faults
// are the handler's business.
func (s *httpServer) faulty(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.miner.Faults()
		if f&FaultHugeHeaders != 0 {
			pad := strings.Repeat("a", 4<<10)
			for range HugeHeaderBytes / len(pad) {
				w.Header().Add("X-Pad", pad)
			}
		}
		switch {
		case f&FaultStall != 0:
			<-r.Context().Done()
		case f&FaultGarbage != 0:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"power":`))
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (s *httpServer) close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	s.wg.Wait()
	return err
}

// writeJSON sends v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(mustJSON(v))
}
