package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/power"
)

// siteOperator is this instance's side of the site console: its card and the operator
// actions other instances' consoles send for its workers.
type siteOperator struct {
	a  *App
	pw *power.Controller
}

var _ cluster.Operator = siteOperator{}

// Card says whether miners get work here (a pool up) and the store answers, and counts the
// connected workers.
func (o siteOperator) Card() cluster.Card {
	st := o.a.Proxy.Status()
	c := cluster.Card{Workers: st.Miners, Paused: st.Paused, Healthy: true}
	var why []string
	up := false
	for _, p := range o.a.Proxy.Pools() {
		up = up || p.State == "up"
	}
	if !up {
		why = append(why, "no pool up")
	}
	if o.a.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := o.a.Store.Health(ctx)
		cancel()
		if err != nil {
			why = append(why, "store: "+err.Error())
		}
	}
	if len(why) > 0 {
		c.Healthy, c.Health = false, strings.Join(why, "; ")
	}
	return c
}

// Operate pauses or resumes each worker through the power controller, which audits it with
// the actor (the operator and the instance whose console they used).
func (o siteOperator) Operate(ctx context.Context, actor string, action cluster.OpAction, workers []string) []cluster.OpResult {
	f := o.pw.PauseWorker
	if action == cluster.OpResume {
		f = o.pw.ResumeWorker
	}
	out := make([]cluster.OpResult, len(workers))
	for i, w := range workers {
		out[i].Worker = w
		err := ctx.Err()
		if err == nil {
			err = consoleErr(f(ctx, actor, w))
		}
		if err != nil {
			out[i].Error = fmt.Sprintf("%s: %v", action, err)
			continue
		}
		out[i].OK = true
	}
	return out
}

// runDesk runs the site console's desk beside the cluster node; pw carries out the
// operator actions sent for this instance's workers.
func (a *App) runDesk(ctx context.Context, pw *power.Controller) {
	if a.Cluster == nil {
		return
	}
	a.Desk = cluster.NewDesk(a.Cluster, siteOperator{a, pw}, cluster.DeskOptions{ConsoleURL: a.cfg.Cluster.ConsoleURL,
		Logger: a.log.With().Str("sub", "site-desk").Logger()})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.Desk.Run(ctx); err != nil {
			a.log.Error().Err(err).Msg("site console desk stopped")
		}
	}()
}

// Site is every instance of the site, for GET /api/v1/site.
func (b backend) Site() (cluster.Site, bool) {
	if b.a.Desk == nil {
		return cluster.Site{}, false
	}
	return b.a.Desk.Site(), true
}

// SiteMiners are the miners of every instance's inventory, for GET /api/v1/site/workers.
func (b backend) SiteMiners() []cluster.SiteMiner {
	if b.a.Desk == nil {
		return nil
	}
	return b.a.Desk.Miners()
}

// SiteOperate carries a pause or resume to the instances owning the workers.
func (b backend) SiteOperate(ctx context.Context, actor string, action cluster.OpAction, workers []string) ([]cluster.OpResult, error) {
	if b.a.Desk == nil {
		return nil, fmt.Errorf("%w: not part of a site", console.ErrUnavailable)
	}
	return b.a.Desk.Operate(ctx, actor, action, workers)
}

var _ console.SiteReader = backend{}
