package firmware_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashgate/hashgate/policy/firmware"
)

// grpcServer is a loopback gRPC server (HTTP/2 cleartext) that accepts
// every login and answers every other method with reply.
func grpcServer(t *testing.T, reply http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Login") {
			grpcMessage(w, (&firmware.BraiinsLoginResponse{Token: "tok", TimeoutS: 3600}).MarshalProto(), "0", "")
			return
		}
		reply(w, r)
	}))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// grpcMessage sends msg in one gRPC frame, then status and message in the
// trailers.
func grpcMessage(w http.ResponseWriter, msg []byte, status, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	_, _ = w.Write(append(frame, msg...))
	h.Set("Grpc-Status", status)
	h.Set("Grpc-Message", message)
}

// A unary reply whose message is followed by an error status in the
// trailers failed: Reboot reports the status instead of a reboot.
func TestBraiinsTrailerStatusIsTheOutcome(t *testing.T) {
	var reboots atomic.Int32
	srv := grpcServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Reboot") {
			reboots.Add(1)
		}
		grpcMessage(w, nil, "14", "hashboards not ready")
	})
	drv := newDriver(t, firmware.Braiins, testConfig(firmware.SystemClock{}))
	err := drv.Reboot(context.Background(), firmware.Target{ID: "bos-1", Addr: strings.TrimPrefix(srv.URL, "http://")})
	var ce *firmware.CommandError
	if !errors.As(err, &ce) || ce.Code != 14 || ce.Msg != "hashboards not ready" {
		t.Fatalf("want the trailer's status 14 as a CommandError, got %v", err)
	}
	if n := reboots.Load(); n != 1 {
		t.Fatalf("Reboot sent %d times", n)
	}
}

// A unary reply carrying two messages is malformed.
func TestBraiinsUnaryReplyWithTwoMessages(t *testing.T) {
	srv := grpcServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		w.Header().Set("Grpc-Status", "0")
	})
	drv := newDriver(t, firmware.Braiins, testConfig(firmware.SystemClock{}))
	err := drv.Reboot(context.Background(), firmware.Target{ID: "bos-1", Addr: strings.TrimPrefix(srv.URL, "http://")})
	if !errors.Is(err, firmware.ErrProtocol) {
		t.Fatalf("want ErrProtocol, got %v", err)
	}
}

// Trailers count against the header cap: a 1 MiB grpc-message trailer is
// refused, not buffered.
func TestBraiinsHugeTrailersRefused(t *testing.T) {
	srv := grpcServer(t, func(w http.ResponseWriter, _ *http.Request) {
		grpcMessage(w, nil, "0", strings.Repeat("m", 1<<20))
	})
	drv := newDriver(t, firmware.Braiins, testConfig(firmware.SystemClock{}))
	if err := drv.Reboot(context.Background(), firmware.Target{ID: "bos-1", Addr: strings.TrimPrefix(srv.URL, "http://")}); err == nil {
		t.Fatal("a reply with 1 MiB of trailers was accepted")
	}
}
