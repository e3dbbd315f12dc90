package proxy

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/miner2"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// rawV2 is a hand-driven SV2 client over a real Noise session, for sending what no honest
// device sends.
type rawV2 struct {
	t   *testing.T
	raw net.Conn
	nc  *noise.Conn
}

func dialRawV2(t *testing.T, addr string, auth noise.AuthorityPublicKey) *rawV2 {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := noise.Client(raw, auth, nil)
	if err != nil {
		raw.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawV2{t: t, raw: raw, nc: nc}
}

func (r *rawV2) send(m sv2.Message) {
	r.t.Helper()
	if _, err := r.nc.Write(mustFrame(r.t, m)); err != nil {
		r.t.Fatal(err)
	}
}

func mustFrame(t testing.TB, m sv2.Message) []byte {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recv returns the next message; the deadline only guards against a hang.
func (r *rawV2) recv() (sv2.Message, error) {
	r.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	hdr, payload, err := r.nc.ReadFrame()
	if err != nil {
		return nil, err
	}
	h, _ := sv2.ParseHeader(hdr[:])
	return sv2.DecodeMessage(h, payload)
}

// expect reads until a message of type T arrives.
func expect[T sv2.Message](r *rawV2) T {
	r.t.Helper()
	for {
		m, err := r.recv()
		if err != nil {
			r.t.Fatalf("waiting for %T: %v", *new(T), err)
		}
		if v, ok := m.(T); ok {
			return v
		}
	}
}

// closedByPeer reads until the server ends the connection.
func (r *rawV2) closedByPeer() bool {
	for {
		_, err := r.recv()
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

func (r *rawV2) setup(flags uint32) {
	r.t.Helper()
	r.send(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: flags, Vendor: "test"})
	expect[*sv2.SetupConnectionSuccess](r)
}

func allOnes() (u sv2.U256) {
	for i := range u {
		u[i] = 0xff
	}
	return u
}

// badInputProxy starts a pool, a proxy whose SV2 listener times handshakes out after 5 s, and
// one honest V2 miner that must keep mining whatever the others do. The timeout is a wall-clock
// socket deadline on every handshake, honest ones included (300 ms cut them on a loaded box);
// 5 s is still far inside the 30 s the stalled-handshake test waits.
func badInputProxy(t *testing.T) (*Proxy, string, v2Keys, *miner2.Miner) {
	t.Helper()
	_, paddr := startPool(t, nil)
	k := newV2Keys(t)
	px, _ := startProxy(t, testConfig(paddr), Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ncfg := noise.DefaultConfig()
	ncfg.HandshakeTimeout = 5 * time.Second
	ncfg.MaxPayload = maxMinerFrame
	if err := px.ServeV2(l, k.static, k.cert, ncfg); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	ms := startMiners2(t, addr, k.authority.PublicKey(), 1, "honest", nil)
	eventually(t, "the honest miner mining", func() bool { return ms[0].Stats.Accepted.Load() > 0 })
	return px, addr, k, ms[0]
}

// stillMining waits for the honest miner to get more shares accepted.
func stillMining(t *testing.T, m *miner2.Miner) {
	t.Helper()
	n := m.Stats.Accepted.Load()
	eventually(t, "the honest miner still mining", func() bool { return m.Stats.Accepted.Load() > n+2 })
	if m.Stats.Connects.Load() != 1 {
		t.Fatalf("honest miner reconnected")
	}
}

func TestV2StalledHandshakeIsDropped(t *testing.T) {
	_, addr, _, honest := badInputProxy(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(make([]byte, 20)) // a third of act 1, then silence
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("stalled handshake was not closed by the proxy: %v", err)
	}
	stillMining(t, honest)
}

func TestV2WrongMACEndsThatPeerOnly(t *testing.T) {
	_, addr, k, honest := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(0)
	// 22 bytes where a sealed frame header belongs, under no key the proxy holds.
	r.raw.Write(make([]byte, noise.EncryptedHeaderSize))
	if !r.closedByPeer() {
		t.Fatal("proxy kept a connection whose frame failed authentication")
	}
	stillMining(t, honest)
}

func TestV2OversizedFrameEndsThatPeerOnly(t *testing.T) {
	px, addr, k, honest := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(0)
	payload := make([]byte, 1<<20)
	hdr, _ := sv2.AppendHeader(nil, sv2.Header{ExtensionType: 0x4000, MsgType: 1, Length: uint32(len(payload))})
	r.nc.WriteFrame([sv2.HeaderSize]byte(hdr), payload)
	if !r.closedByPeer() {
		t.Fatal("proxy kept a connection that sent a 1 MiB frame")
	}
	if px.Status().Drops["oversized_line"] == 0 {
		t.Fatal("oversized frame not counted")
	}
	stillMining(t, honest)
}

func TestV2MessageBeforeSetupEndsConnection(t *testing.T) {
	_, addr, k, honest := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.send(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: "x", MaxTarget: allOnes(), MinExtranonceSize: 2})
	if !r.closedByPeer() {
		t.Fatal("proxy accepted a channel before SetupConnection")
	}
	stillMining(t, honest)
}

func TestV2SetupRefusals(t *testing.T) {
	_, addr, k, _ := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.send(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: sv2.FlagRequiresWorkSelection | sv2.FlagRequiresVersionRolling})
	e := expect[*sv2.SetupConnectionError](r)
	if e.ErrorCode != "unsupported-feature-flags" || e.Flags != sv2.FlagRequiresWorkSelection {
		t.Fatalf("refusal %+v: must list exactly the unsupported flags", e)
	}
	r = dialRawV2(t, addr, k.authority.PublicKey())
	r.send(&sv2.SetupConnection{Protocol: sv2.ProtocolTemplateDistribution, MinVersion: 2, MaxVersion: 2})
	if e := expect[*sv2.SetupConnectionError](r); e.ErrorCode != "unsupported-protocol" {
		t.Fatalf("refusal %+v", e)
	}
	r = dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(sv2.FlagRequiresStandardJobs)
	r.send(&sv2.OpenExtendedMiningChannel{RequestID: 9, UserIdentity: "x", MaxTarget: allOnes(), MinExtranonceSize: 2})
	if e := expect[*sv2.OpenMiningChannelError](r); e.RequestID != 9 || e.ErrorCode != "extended-channels-not-supported-for-standard-jobs" {
		t.Fatalf("open error %+v", e)
	}
}

func TestV2UnknownAndClosedChannels(t *testing.T) {
	_, addr, k, honest := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(0)
	r.send(&sv2.SubmitSharesExtended{ChannelID: 99, SequenceNumber: 1, JobID: 1, Extranonce: []byte{1, 2, 3, 4}})
	if e := expect[*sv2.SubmitSharesError](r); e.ChannelID != 99 || e.SequenceNumber != 1 || e.ErrorCode != "invalid-channel-id" {
		t.Fatalf("unknown channel: %+v", e)
	}
	// The connection is still good: open a channel and get work.
	r.send(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: "raw.x", NominalHashRate: 1e6, MaxTarget: allOnes(), MinExtranonceSize: 2})
	ok := expect[*sv2.OpenExtendedMiningChannelSuccess](r)
	if ok.GroupChannelID == 0 || ok.GroupChannelID == ok.ChannelID || ok.ExtranonceSize < 2 {
		t.Fatalf("open success %+v", ok)
	}
	job := expect[*sv2.NewExtendedMiningJob](r)
	if job.MinNTime.Valid {
		t.Fatal("first job on a channel must be a future job")
	}
	snp := expect[*sv2.SetNewPrevHash](r)
	if snp.JobID != job.JobID {
		t.Fatalf("SetNewPrevHash names job %d, want %d", snp.JobID, job.JobID)
	}
	r.send(&sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: 2, JobID: job.JobID, NTime: snp.MinNTime, Extranonce: []byte{1}})
	if e := expect[*sv2.SubmitSharesError](r); e.ErrorCode != "bad-extranonce-size" {
		t.Fatalf("short extranonce: %+v", e)
	}
	r.send(&sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: 3, JobID: job.JobID + 1000, NTime: snp.MinNTime, Extranonce: make([]byte, ok.ExtranonceSize)})
	if e := expect[*sv2.SubmitSharesError](r); e.ErrorCode != "invalid-job-id" {
		t.Fatalf("unknown job: %+v", e)
	}
	r.send(&sv2.UpdateChannel{ChannelID: 77, NominalHashRate: 1, MaximumTarget: allOnes()})
	if e := expect[*sv2.UpdateChannelError](r); e.ErrorCode != "invalid-channel-id" {
		t.Fatalf("update unknown: %+v", e)
	}
	r.send(&sv2.CloseChannel{ChannelID: ok.ChannelID, ReasonCode: "done"})
	r.send(&sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: 4, JobID: job.JobID, NTime: snp.MinNTime, Extranonce: make([]byte, ok.ExtranonceSize)})
	if e := expect[*sv2.SubmitSharesError](r); e.SequenceNumber != 4 || e.ErrorCode != "invalid-channel-id" {
		t.Fatalf("share for a closed channel: %+v", e)
	}
	stillMining(t, honest)
}

// TestV2UpdateChannelLowersTarget: a lower maximum_target must lower the channel's target at
// once (SetTarget), and the hashrate hint moves vardiff.
func TestV2UpdateChannelLowersTarget(t *testing.T) {
	_, addr, k, _ := badInputProxy(t)
	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(0)
	r.send(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "raw.std", NominalHashRate: 0, MaxTarget: allOnes()})
	ok := expect[*sv2.OpenStandardMiningChannelSuccess](r)
	expect[*sv2.NewMiningJob](r)
	expect[*sv2.SetNewPrevHash](r)
	lower := allOnes()
	lower[31], lower[30] = 0, 0 // at most 2^240: far below the 1e-6 start
	r.send(&sv2.UpdateChannel{ChannelID: ok.ChannelID, NominalHashRate: 0, MaximumTarget: lower})
	st := expect[*sv2.SetTarget](r)
	if targetFromU256(lower).Harder(targetFromU256(st.MaximumTarget)) {
		t.Fatalf("SetTarget %x is easier than the miner's maximum %x", st.MaximumTarget, lower)
	}
	j := expect[*sv2.NewMiningJob](r)
	if !j.MinNTime.Valid {
		t.Fatal("a re-sent job on the same tip should start at once")
	}
}

func TestV2ShutdownSaysReconnect(t *testing.T) {
	_, paddr := startPool(t, nil)
	k := newV2Keys(t)
	cfg := testConfig(paddr)
	px, _ := startProxy(t, cfg, Options{})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	ms := startMiners2(t, a.String(), k.authority.PublicKey(), 1, "bye", nil)
	eventually(t, "mining", func() bool { return ms[0].Stats.Accepted.Load() > 0 })
	px.Close()
	eventually(t, "Reconnect received", func() bool { return ms[0].Stats.Reconnects.Load() == 1 })
}
