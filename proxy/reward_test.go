package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool2"
)

// Mainnet block 100000's coinbase around its 8-byte scriptSig, and its nbits.
const (
	block100000Coinb1 = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff08"
	block100000Coinb2 = "ffffffff0100f2052a010000004341041b0e8c2567c12536aa13357b79a073dc4444acb83c4ec7a0e2f99dd7457516c5817242da796924ca4e99947d087fedf9ce467cb9f7c6287078f801df276fdf84ac00000000"
	block100000NBits  = "1b04864c"
)

// scriptedPool is a V1 pool on loopback that sends one job with the coinbase halves given,
// at share difficulty 1e-5, and accepts every submit: a pool whose coinbase the proxy relays
// without being able to read it, or one it can.
func scriptedPool(t *testing.T, coinb1, coinb2 string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					var m struct {
						ID     json.RawMessage `json:"id"`
						Method string          `json:"method"`
					}
					if json.Unmarshal(sc.Bytes(), &m) != nil {
						return
					}
					var out []string
					switch m.Method {
					case "mining.subscribe":
						out = append(out, fmt.Sprintf(`{"id":%s,"result":[[["mining.notify","s1"]],"044c8604",4],"error":null}`, m.ID))
					case "mining.configure":
						out = append(out, fmt.Sprintf(`{"id":%s,"result":{"version-rolling":false},"error":null}`, m.ID))
					case "mining.authorize":
						out = append(out, fmt.Sprintf(`{"id":%s,"result":true,"error":null}`, m.ID),
							`{"id":null,"method":"mining.set_difficulty","params":[1e-05]}`,
							fmt.Sprintf(`{"id":null,"method":"mining.notify","params":["j1","%s","%s","%s",[],"20000000","%s","%08x",true]}`,
								strings.Repeat("00", 32), coinb1, coinb2, block100000NBits, uint32(time.Now().Unix())))
					default:
						out = append(out, fmt.Sprintf(`{"id":%s,"result":true,"error":null}`, m.ID))
					}
					for _, o := range out {
						if _, err := c.Write([]byte(o + "\n")); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestExpectedSatsPerJob: a pool-accepted share carries its difficulty / the job's network
// difficulty × the job's coinbase value (mainnet block 100000's job: 5e9 sats at difficulty
// 14484.1623612254). A job whose coinbase outputs do not parse counts 0 for every share, is
// logged once, and its shares are still relayed, accepted by the pool and answered accepted.
func TestExpectedSatsPerJob(t *testing.T) {
	const unreadable = "job's coinbase outputs unreadable"
	for _, tc := range []struct {
		name   string
		coinb2 string
		per    float64 // expected sats per unit of difficulty
	}{
		{"block 100000", block100000Coinb2, 5e9 / 14484.1623612254},
		{"outputs truncated", block100000Coinb2[:30], 0},
		{"output count too large", "ffffffff09" + block100000Coinb2[10:], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paddr := scriptedPool(t, block100000Coinb1, tc.coinb2)
			logs, log := logSink()
			sink := &eventLog{}
			_, addr := startProxy(t, testConfig(paddr), Options{Logger: log, Sink: sink})
			ms := startMiners(t, addr, 2, "rig", func(c *miner.Config) { c.VersionRolling = false })
			eventually(t, "5 pool-accepted shares", func() bool { return sink.count(ResultPoolAccepted, "") >= 5 })
			eventually(t, "the miners' shares answered accepted", func() bool { return allMinersAccepted(ms, 1) })
			sink.mu.Lock()
			for _, e := range sink.ev {
				want := 0.0
				if e.Result == ResultPoolAccepted {
					want = e.Difficulty * tc.per
				}
				if math.Abs(e.ExpectedSats-want) > 1e-9*want {
					t.Errorf("%v share of difficulty %v: %v expected sats, want %v", e.Result, e.Difficulty, e.ExpectedSats, want)
				}
			}
			sink.mu.Unlock()
			if n, want := logs.count(unreadable), map[bool]int{true: 0, false: 1}[tc.per > 0]; n != want {
				logs.mu.Lock()
				defer logs.mu.Unlock()
				t.Fatalf("%d log lines for the unreadable coinbase, want %d:\n%s", n, want, logs.b.String())
			}
		})
	}
}

// TestExpectedSatsSV2Upstream: through an SV2 pool's extended jobs (coinbase halves plain or
// BIP141-serialized, as older SRI pools send them) each pool-accepted share carries its
// difficulty × 312,500,000 (the sim template's 3.125 BTC) / the chain's network difficulty.
func TestExpectedSatsSV2Upstream(t *testing.T) {
	for _, witness := range []bool{false, true} {
		t.Run(fmt.Sprintf("witness=%v", witness), func(t *testing.T) {
			sp, paddr := startPool2(t, func(c *pool2.Config) {
				c.NBits = 0x1b04864c
				c.Witness = witness
			})
			cfg := testConfig()
			cfg.Pools = []PoolConfig{{Name: "v2pool", URL: v2URL(sp, paddr), User: "acct", Priority: 0}}
			sink := &eventLog{}
			_, addr := startProxy(t, cfg, Options{Sink: sink})
			startMiners(t, addr, 2, "rig", nil)
			eventually(t, "5 pool-accepted shares", func() bool { return sink.count(ResultPoolAccepted, "") >= 5 })
			per := 312_500_000 / 14484.1623612254
			sink.mu.Lock()
			defer sink.mu.Unlock()
			for _, e := range sink.ev {
				if e.Result != ResultPoolAccepted {
					continue
				}
				if want := e.Difficulty * per; want <= 0 || math.Abs(e.ExpectedSats-want) > 1e-9*want {
					t.Errorf("share of difficulty %v: %v expected sats, want %v", e.Difficulty, e.ExpectedSats, want)
				}
			}
		})
	}
}
