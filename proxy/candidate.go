package proxy

import (
	"encoding/hex"

	"github.com/hashgate/hashgate/stratum/work"
)

// candidateVerdict logs the pool's verdict on a block candidate. A candidate that missed the
// pool's share target (on regtest or a test network, easier than the pool) is refused by
// pools that judge the share beside the block (ckpool submits the block, then answers "Above
// target"); its miner was credited on its own target, and the refusal goes through the pool's
// reject limiter because such a network turns up candidates all the time. A candidate that
// met the pool's target and was refused is a block the pool would not take: logged each time.
func (c *channel) candidateVerdict(pl *pool, hash [32]byte, belowPool bool, v verdict) {
	disp := work.ReverseHash(hash)
	h := hex.EncodeToString(disp[:])
	switch {
	case v.accepted:
		c.log.Info().Str("pool", pl.cfg.Name).Str("hash", h).Msg("pool accepted the block candidate")
	case !v.known:
		c.log.Warn().Str("pool", pl.cfg.Name).Str("hash", h).Str("why", v.message).Msg("no verdict from the pool on the block candidate")
	case belowPool:
		reason := clipReason(v.message)
		if ok, left := pl.rejectLog.allow(c.p.clk.Now(), "block candidate: "+reason); ok {
			c.log.Warn().Str("pool", pl.cfg.Name).Str("hash", h).Str("reason", reason).Uint64("suppressed", left).
				Msg("pool refused a block candidate that missed its share target; the miner met its own target and was answered accepted")
		}
	default:
		c.log.Warn().Str("pool", pl.cfg.Name).Str("hash", h).Str("reason", clipReason(v.message)).Msg("pool rejected the block candidate")
	}
}
