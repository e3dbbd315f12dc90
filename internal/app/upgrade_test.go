package app

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner2"
	"github.com/hashgate/hashgate/store"
	"github.com/hashgate/hashgate/stratum/noise"
)

// passedSockets hands one process's listening sockets to the next in the order they were
// opened, as duplicated descriptors: what an upgrade passes to the new process.
type passedSockets struct {
	mu    sync.Mutex
	files []*os.File
	next  int
}

func (p *passedSockets) listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	fh, err := l.(*net.TCPListener).File()
	if err != nil {
		l.Close()
		return nil, err
	}
	p.mu.Lock()
	p.files = append(p.files, fh)
	p.mu.Unlock()
	return l, nil
}

func (p *passedSockets) inherit(network, addr string) (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fh := p.files[p.next]
	p.next++
	return net.FileListener(fh)
}

func (p *passedSockets) close() {
	for _, fh := range p.files {
		fh.Close()
	}
}

// TestHandOverKeepsHoldsAndShares: two hashgates in one process hand over as an upgrade does,
// over the same sockets and store. An operator-paused miner stays paused on the new process
// while the old one still owns the store (the held list it passed), and after the new one has
// restored its holds from the store; the other miner keeps mining; the new process opens the
// store only once the old one has closed it, and every share the pool accepted across the
// hand-over is in the ledger, those the new process held meanwhile included.
func TestHandOverKeepsHoldsAndShares(t *testing.T) {
	r := startUpgradeRig(t)
	ctx, old, sp := r.ctx, r.old, r.pool
	ms, stopMiners := r.mine("acct.held", "acct.free")
	held, free := ms[0], ms[1]
	waitFor(t, "both miners mining", func() bool { return held.Stats.Accepted.Load() > 0 && free.Stats.Accepted.Load() > 0 })
	if err := old.Power.PauseWorker(ctx, "user:ops", "acct.held"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held miner told it is paused", func() bool { return held.Rejects()[26] > 0 })

	started, oldGone := r.takeOver(Handover{Paused: old.Proxy.PausedWorkers()})
	heldConns, freeConns, freeAcc := held.Stats.Connects.Load(), free.Stats.Connects.Load(), free.Stats.Accepted.Load()
	// A paused miner is sent no work: one that gets a job was let go.
	heldJobs := held.Stats.Jobs.Load()
	if err := old.HandOver(ctx, 300*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	// The old process has closed its store; the new one has not opened it (ParentGone holds
	// it): the miners are on the new process, the held one still held.
	waitFor(t, "both miners on the new process", func() bool {
		return held.Stats.Connects.Load() > heldConns && free.Stats.Connects.Load() > freeConns && free.Stats.Accepted.Load() > freeAcc+3
	})
	if n := held.Stats.Jobs.Load(); n != heldJobs {
		t.Fatalf("the held miner got %d jobs from the new process before its store opened", n-heldJobs)
	}
	select {
	case a := <-started:
		t.Fatalf("the new process finished starting (store %v) before the old one was gone", a != nil && a.Store != nil)
	default:
	}
	close(oldGone)
	var a *App
	select {
	case a = <-started:
	case <-time.After(time.Minute):
		t.Fatal("the new process never opened the store")
	}
	if a == nil {
		t.FailNow()
	}
	defer a.Close()
	if a.Power.Holds("acct.held") == 0 || a.Power.Holds("acct.free") != 0 {
		t.Fatalf("holds after the hand-over: held %v, free %v", a.Power.Holds("acct.held"), a.Power.Holds("acct.free"))
	}
	freeAcc = free.Stats.Accepted.Load()
	waitFor(t, "the free miner mining on", func() bool { return free.Stats.Accepted.Load() > freeAcc+3 })
	if n := held.Stats.Jobs.Load(); n != heldJobs {
		t.Fatalf("the held miner got %d jobs after the hand-over", n-heldJobs)
	}
	for _, w := range a.Proxy.Workers() {
		if w.Worker == "acct.held" && w.State != "paused" {
			t.Fatalf("acct.held is %s on the new process, want paused", w.State)
		}
	}

	stopMiners()
	// Every forwarded share has its verdict before the store closes.
	if left := a.sink.settle(ctx); left != 0 {
		t.Fatalf("%d verdicts missing", left)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, r.f.Store, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.ShareStats(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	var accepted int64
	for _, w := range stats {
		accepted += w.PoolAccepted.Count
	}
	if uint64(accepted) != sp.Accepted() {
		t.Fatalf("the pool accepted %d shares, the ledger has %d", sp.Accepted(), accepted)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "stratum.crt"), filepath.Join(dir, "stratum.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestHandOverEveryListener: an sv1, an sv1 TLS and an sv2 listener are all handed over on the
// same addresses; the SV2 miner is sent Reconnect when the old process closes and mines on the
// new one; the TLS listener answers a TLS miner from the new process.
func TestHandOverEveryListener(t *testing.T) {
	dir := t.TempDir()
	auth, err := noise.GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	static, err := noise.NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Minute)
	cert, err := noise.IssueServerCertificate(auth, static, from, from.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sv2.key")
	if err := noise.WriteKeyFile(keyFile, noise.NewServerKeyFile(static, cert, auth.PublicKey())); err != nil {
		t.Fatal(err)
	}
	certFile, tlsKey := selfSigned(t, dir)
	sp, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	f.Listener = append(f.Listener,
		proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: tlsKey},
		proxy.ListenerConfig{Protocol: "sv2", Address: "127.0.0.1:0", KeyFile: keyFile})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	r := startUpgradeRigWith(t, sp, f)
	ctx, old := r.ctx, r.old
	m := miner2.New(miner2.Config{Addr: old.Addrs[2].String(), Authority: auth.PublicKey(), User: "rack5.sv2-01", HashRate: 20000,
		Reconnect: true, ReconnectDelay: 50 * time.Millisecond})
	r.run(m)
	waitFor(t, "the SV2 miner mining", func() bool { return sp.AcceptedBy("acct.rack5.sv2-01") > 0 })

	started, oldGone := r.takeOver(Handover{})
	if err := old.HandOver(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	close(oldGone)
	a := <-started
	if a == nil {
		t.FailNow()
	}
	defer a.Close()
	for i := range old.Addrs {
		if a.Addrs[i].String() != old.Addrs[i].String() {
			t.Fatalf("listener %d: %s, was %s", i, a.Addrs[i], old.Addrs[i])
		}
	}
	if m.Stats.Reconnects.Load() == 0 {
		t.Fatal("the SV2 miner was not sent Reconnect")
	}
	acc := sp.AcceptedBy("acct.rack5.sv2-01")
	waitFor(t, "the SV2 miner mining on the new process", func() bool { return sp.AcceptedBy("acct.rack5.sv2-01") > acc+3 })

	c, err := tls.Dial("tcp", a.Addrs[1].String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS miner after the hand-over: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"id":1`) || !strings.Contains(line, `"result"`) {
		t.Fatalf("subscribe over TLS: %q, %v", line, err)
	}
}
