package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner2"
	"github.com/hashgate/hashgate/stratum/noise"
)

// TestSV2ListenerFromKeyFile: keys made as `hashgate keygen` makes them, an sv2 [[listener]]
// loading them, and an SV2 miner that pins the authority key mining through it.
func TestSV2ListenerFromKeyFile(t *testing.T) {
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
	sp, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv2", Address: "127.0.0.1:0", KeyFile: keyFile}, paddr)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := miner2.New(miner2.Config{Addr: a.Addrs[0].String(), Authority: auth.PublicKey(), User: "rack5.sv2-01", HashRate: 100000})
	go m.Run(ctx)
	waitFor(t, "the SV2 miner's shares accepted by the V1 pool", func() bool { return sp.AcceptedBy("acct.rack5.sv2-01") > 0 })
}
