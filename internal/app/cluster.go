package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
)

// startCluster joins the site named by [cluster] (starting the embedded NATS server first when
// asked) and returns the feed the power controller gives its inventory to; nil without a
// [cluster] table, which keeps the power controller's own policy runner.
func (a *App) startCluster() (power.Sink, error) {
	cc := a.cfg.Cluster
	if cc == nil {
		return nil, nil
	}
	log := a.log.With().Str("sub", "cluster").Logger()
	url := ""
	if cc.Embed {
		var routes []string
		for _, r := range strings.Split(cc.EmbedRoutes, ",") {
			if r = strings.TrimSpace(r); r != "" {
				routes = append(routes, r)
			}
		}
		e, err := cluster.StartEmbedded(cluster.EmbedOptions{Name: cc.InstanceName(), Listen: cc.EmbedListen, StoreDir: cc.EmbedStoreDir,
			ClusterName: "hashgate-" + cc.Site, ClusterListen: cc.EmbedClusterListen, Routes: routes})
		if err != nil {
			return nil, fmt.Errorf("cluster.embed: %w", err)
		}
		a.closers = append(a.closers, func() error { e.Shutdown(); return nil })
		url = e.ClientURL()
		log.Info().Str("url", url).Msg("embedded NATS server listening")
	}
	// While this instance leads, the site's decisions go to its own audit trail; what it
	// carries out on its own miners for another leader or its floor goes there too, for the
	// power controller to restore at the next start.
	// The site's controls document is kept there too: a start while NATS is unreachable
	// holds the floor to the site's paused groups and cap.
	au := power.NewAudit(a.Store)
	n, err := cluster.New(*cc, cluster.Options{Policy: *a.cfg.Policy, URL: url, Audit: au, Record: au,
		Controls: power.NewControlsStore(a.Store), Logger: log})
	if err != nil {
		return nil, err
	}
	a.Cluster = n
	return siteSink{n}, nil
}

// siteSink is the node as the power controller's feed and site controls, with the node's
// refusals of a control in the console's terms: no NATS is unavailable (409), a cap or event
// to remove that the site does not hold not found (404), concurrent writes a conflict (409), a
// value the site document refuses invalid (400).
type siteSink struct{ *cluster.Node }

var _ power.SiteControls = siteSink{}

var _ cluster.ControlsStore = power.ControlsStore{}

func siteErr(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNoNATS):
		return fmt.Errorf("%w: %w", console.ErrUnavailable, err)
	case errors.Is(err, cluster.ErrNoControl):
		return fmt.Errorf("%w: %w", console.ErrNotFound, err)
	case errors.Is(err, cluster.ErrControlConflict):
		return fmt.Errorf("%w: %w", console.ErrConflict, err)
	case errors.Is(err, cluster.ErrBadMessage):
		return fmt.Errorf("%w: %w", console.ErrInvalid, err)
	}
	return err
}

func (s siteSink) SetCap(ctx context.Context, kw float64, until time.Time) error {
	return siteErr(s.Node.SetCap(ctx, kw, until))
}

func (s siteSink) ClearCap(ctx context.Context) error { return siteErr(s.Node.ClearCap(ctx)) }

func (s siteSink) PauseGroup(ctx context.Context, group string) error {
	return siteErr(s.Node.PauseGroup(ctx, group))
}

func (s siteSink) ResumeGroup(ctx context.Context, group string) error {
	return siteErr(s.Node.ResumeGroup(ctx, group))
}

func (s siteSink) AddDREvent(ctx context.Context, ev policy.DREvent) error {
	return siteErr(s.Node.AddDREvent(ctx, ev))
}

func (s siteSink) RemoveDREvent(ctx context.Context, id string) error {
	return siteErr(s.Node.RemoveDREvent(ctx, id))
}

// runCluster runs the site membership until ctx ends; orders reach the power controller.
func (a *App) runCluster(ctx context.Context, pw *power.Controller) {
	if a.Cluster == nil {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.Cluster.Run(ctx, pw); err != nil {
			a.log.Error().Err(err).Msg("cluster node stopped")
		}
	}()
	a.runDesk(ctx, pw)
}
