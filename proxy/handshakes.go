package proxy

import "github.com/hashgate/hashgate/stratum/noise"

// HandshakeStats sums the Noise handshake counters of every SV2 listener since start, for
// /metrics: a peer that cannot complete the handshake (wrong key, garbage, a scanner) shows
// only here and in a log line.
func (p *Proxy) HandshakeStats() noise.ListenerStats {
	g := p.guard
	g.mu.Lock()
	nls := append([]*noise.Listener(nil), g.noise...)
	g.mu.Unlock()
	var sum noise.ListenerStats
	for _, l := range nls {
		s := l.Stats()
		sum.Accepted += s.Accepted
		sum.Completed += s.Completed
		sum.Failed += s.Failed
		sum.TimedOut += s.TimedOut
		sum.Refused += s.Refused
		sum.AcceptErrors += s.AcceptErrors
	}
	return sum
}
