package proxy

import (
	"sync"

	"github.com/hashgate/hashgate/stratum/work"
)

// jobReward is the expected value of one unit of share difficulty on a job, worked out
// from its coinbase and nbits on the job's first pool-accepted share: most jobs are
// replaced before one, and the job path stays free of the coinbase parse.
type jobReward struct {
	once        sync.Once
	satsPerDiff float64 // 0 when the coinbase is unreadable
}

// expectedSats is the expected value in satoshis of a pool-accepted share of difficulty
// diff on pj (see work.SatsPerDifficulty). A job whose coinbase outputs cannot be read
// counts nothing, and says so once (each of its proxy jobs parses it, one warning per pool
// job id); its shares are relayed and judged as any other.
func (p *Proxy) expectedSats(pj *proxyJob, pl *pool, diff float64) float64 {
	r := &pj.reward
	r.once.Do(func() {
		v, err := work.SatsPerDifficulty(pj.job)
		if err != nil {
			if prev, seen := p.rewardWarned.Swap(pl.cfg.Name, pj.job.ID); !seen || prev != pj.job.ID {
				p.log.Warn().Err(err).Str("pool", pl.cfg.Name).Str("job", pj.job.ID).
					Msg("job's coinbase outputs unreadable: its accepted shares count no expected revenue")
			}
		}
		r.satsPerDiff = v
	})
	return r.satsPerDiff * diff
}
