package proxy

import (
	"fmt"

	"github.com/hashgate/hashgate/stratum/sv2"
)

// splitMaskFilter leaves out of the split's candidates the pools whose version mask does not
// cover the others'. SV2 channels may roll every bit of sv2.VersionRollingMask on any job (a
// channel's mask is fixed when it opens, and standard jobs always allow rolling), so a device
// rolls what the widest pool allows; a V1 miner's mask follows each pool's. Switched by the
// split to a pool granting fewer bits, an SV2 miner would have every share it finds there
// rejected as invalid version bits. Only while SV2 miners are connected; each change is
// logged once. Called with rt.failMu held, which guards rt.maskShort.
func (p *Proxy) splitMaskFilter(cands []*pool) []*pool {
	if len(cands) < 2 {
		return cands
	}
	masks := make([]uint32, len(cands))
	var union uint32
	for i, pl := range cands {
		masks[i] = poolMask(pl) & sv2.VersionRollingMask
		union |= masks[i]
	}
	v2 := false
	for _, m := range masks {
		if m != union {
			v2 = p.hasV2Channels()
			break
		}
	}
	out := cands[:0:0]
	for i, pl := range cands {
		short := v2 && masks[i] != union
		if short != p.rt.maskShort[pl] {
			if short {
				if p.rt.maskShort == nil {
					p.rt.maskShort = map[*pool]bool{}
				}
				p.rt.maskShort[pl] = true
				p.log.Warn().Str("pool", pl.cfg.Name).Str("version_mask", fmt.Sprintf("%08x", masks[i])).
					Str("others", fmt.Sprintf("%08x", union)).
					Msg("pool left out of the split: its version mask does not cover the bits SV2 miners may roll")
			} else {
				delete(p.rt.maskShort, pl)
				p.log.Info().Str("pool", pl.cfg.Name).Msg("pool may join the split again: its version mask covers what SV2 miners may roll")
			}
		}
		if !short {
			out = append(out, pl)
		}
	}
	return out
}

// poolMask is the version-rolling mask of pl's current work (0: none yet, or no rolling).
func poolMask(pl *pool) uint32 {
	if c := pl.conn(0); c != nil {
		if j := c.current(); j != nil {
			return j.VersionMask
		}
	}
	return 0
}

// hasV2Channels says whether any SV2 miner is connected; it stops at the first.
func (p *Proxy) hasV2Channels() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.channels {
		if c.proto == "sv2" {
			return true
		}
	}
	return false
}
