package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// On a clustered site the console's site-wide controls work on every instance: a cap given
// to the follower's console reaches the leader's policy and pauses the miners of both
// instances, and so do its clear and a group's pause and resume; each control is audited with its actor on the instance where it was
// given, not on the leader.
func TestClusterControlsFromTheFollowersConsole(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	a := startClusterApp(t, paddr, "hall-a", embed, 10000)
	b := startClusterApp(t, paddr, "hall-b", reach, 10000)
	runMiner(t, a, "rack1.a0")
	runMiner(t, b, "rack1.b0")
	var leader, follower *App
	waitFor(t, "one leader with both miners running", func() bool {
		ra, rb := a.Cluster.Status().Role, b.Cluster.Status().Role
		switch {
		case ra == cluster.RoleLeader && rb == cluster.RoleFollower:
			leader, follower = a, b
		case rb == cluster.RoleLeader && ra == cluster.RoleFollower:
			leader, follower = b, a
		default:
			return false
		}
		r := leader.Cluster.Runner()
		return r != nil && len(r.Snapshot().Miners) == 2 &&
			workerState(a, "rack1.a0") == "running" && workerState(b, "rack1.b0") == "running"
	})
	ctx := context.Background()
	fb := backend{follower}
	if err := fb.SetCap(ctx, "alice", 0, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a 0 kW cap pausing both instances' miners", func() bool {
		return workerState(a, "rack1.a0") == "paused" && workerState(b, "rack1.b0") == "paused"
	})
	// The policy's default min_pause keeps the paused miners off for minutes: what follows is
	// read in the leader's policy (the miners' side is proven in the cluster package).
	manual := func() policy.Manual { return leader.Cluster.Runner().Snapshot().Manual }
	if err := fb.ClearCap(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cap cleared at the leader", func() bool { return manual().CapUntil.IsZero() })
	if err := fb.ClearCap(ctx, "alice"); !errors.Is(err, console.ErrNotFound) {
		t.Fatalf("clearing no cap: %v", err)
	}
	if err := fb.PauseGroup(ctx, "bob", "rack1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "group rack1 paused at the leader", func() bool { return slices.Equal(manual().PausedGroups, []string{"rack1"}) })
	if err := (backend{leader}).ResumeGroup(ctx, "carol", "rack1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "group rack1 resumed at the leader", func() bool { return len(manual().PausedGroups) == 0 })
	audit := func(x *App, kind string) []store.Event {
		es, err := x.Store.Events(ctx, store.EventQuery{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	for _, c := range []struct {
		x     *App
		kind  string
		actor string
	}{{follower, power.KindCap, "alice"}, {follower, power.KindCapCleared, "alice"}, {follower, power.KindPauseGroup, "bob"}, {leader, power.KindResumeGroup, "carol"}} {
		es := audit(c.x, c.kind)
		if len(es) != 1 || es[0].Actor != c.actor {
			t.Errorf("%s: %+v, want one by %s", c.kind, es, c.actor)
		}
	}
	if es := audit(leader, power.KindCap); len(es) != 0 {
		t.Errorf("the follower's cap audited on the leader too: %+v", es)
	}
}

// A clustered instance that cannot reach NATS answers the site-wide controls as unavailable
// (409 at the console, naming NATS) and audits nothing: the control never reached the site.
func TestClusterControlsWithoutNATSAreUnavailable(t *testing.T) {
	_, paddr := startTestPool(t)
	a := startClusterApp(t, paddr, "hall-a", cluster.Config{NATSURL: "nats://" + freeAddr(t)}, 10000)
	ctx := context.Background()
	bk := backend{a}
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"cap", func() error { return bk.SetCap(ctx, "alice", 4, time.Now().Add(time.Hour)) }},
		{"clear cap", func() error { return bk.ClearCap(ctx, "alice") }},
		{"pause group", func() error { return bk.PauseGroup(ctx, "alice", "rack1") }},
		{"resume group", func() error { return bk.ResumeGroup(ctx, "alice", "rack1") }},
		{"dr", func() error {
			return bk.ScheduleDR(ctx, "alice", policy.DREvent{ID: "e", Start: time.Now(), End: time.Now().Add(time.Hour), TargetKW: 1})
		}},
		{"cancel dr", func() error { return bk.CancelDR(ctx, "alice", "e") }},
	} {
		err := c.f()
		if !errors.Is(err, console.ErrUnavailable) || !errors.Is(err, cluster.ErrNoNATS) {
			t.Errorf("%s without NATS: %v", c.name, err)
		}
	}
	for _, k := range []string{power.KindCap, power.KindCapCleared, power.KindPauseGroup, power.KindResumeGroup, power.KindDRScheduled, power.KindDRCancelled} {
		if es, err := a.Store.Events(ctx, store.EventQuery{Kind: k}); err != nil || len(es) != 0 {
			t.Errorf("%s audited without NATS: %v %+v", k, err, es)
		}
	}
}
