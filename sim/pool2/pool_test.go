package pool2_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/miner2"
	"github.com/hashgate/hashgate/sim/pool2"
	"github.com/hashgate/hashgate/stratum/noise"
)

// The V2 miner simulator mines directly on the V2 pool simulator over loopback TCP and Noise:
// both sides speak the real protocol, and the pool validates every share with stratum/work.
func TestMinersOnPool(t *testing.T) {
	for _, witness := range []bool{false, true} {
		cfg := pool2.DefaultConfig()
		cfg.Difficulty = 1e-5
		cfg.JobInterval, cfg.BlockInterval = 0, 0
		cfg.Witness = witness
		p, err := pool2.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := p.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var ms []*miner2.Miner
		done := make(chan struct{}, 2)
		for _, std := range []bool{false, true} {
			m := miner2.New(miner2.Config{Addr: addr, Authority: p.AuthorityPublicKey(), User: "u", Standard: std, HashRate: 200000, VersionRolling: true})
			ms = append(ms, m)
			go func() { m.Run(ctx); done <- struct{}{} }()
		}
		deadline := time.Now().Add(60 * time.Second)
		for ms[0].Stats.Accepted.Load() < 3 || ms[1].Stats.Accepted.Load() < 3 {
			if time.Now().After(deadline) {
				t.Fatal("miners got no accepted shares")
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.NewBlock()
		before := p.Accepted()
		for p.Accepted() < before+4 {
			if time.Now().After(deadline) {
				t.Fatal("no shares after a new block")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		<-done
		p.Close()
		if p.NominalHashrate("u") != 200000 {
			t.Fatalf("nominal hashrate %v", p.NominalHashrate("u"))
		}
		if got := p.AcceptedBy("u"); got != p.Accepted() {
			t.Fatalf("accepted by user %d of %d", got, p.Accepted())
		}
	}
}

// A client pinning another authority never gets past the handshake.
func TestWrongAuthorityRefused(t *testing.T) {
	p, err := pool2.New(pool2.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := noise.GenerateAuthority(nil)
	m := miner2.New(miner2.Config{Addr: addr, Authority: other.PublicKey(), User: "u"})
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("miner connected to a pool its authority key does not vouch for")
	}
	if m.Stats.Connects.Load() != 0 {
		t.Fatal("handshake succeeded")
	}
}
