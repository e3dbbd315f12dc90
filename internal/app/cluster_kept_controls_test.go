package app

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/store"
)

// A clustered hashgate that starts while NATS is unreachable applies the site controls its
// store kept from the last run, and GET /api/v1/cluster says they came from the store, at
// their revision.
func TestClusterStartsFromKeptControls(t *testing.T) {
	_, paddr := startTestPool(t)
	f := clusterFile(t, paddr, "hall-a", cluster.Config{NATSURL: "nats://" + freeAddr(t)}, 50)
	st, err := store.Open(context.Background(), f.Store, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"v":1,"paused_groups":["rack1"]}`)
	if err := power.NewControlsStore(st).SaveControls(context.Background(), "s1", 9, doc); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, &f)
	waitFor(t, "the kept controls in force", func() bool {
		s := getJSON[cluster.Status](t, a, "hg_cluster_token", "/api/v1/cluster")
		return s.ControlsFrom == cluster.ControlsStored && s.ControlsRevision == 9 && !s.Connected
	})
	if c, rev := a.Cluster.Controls(); rev != 9 || len(c.PausedGroups) != 1 || c.PausedGroups[0] != "rack1" {
		t.Fatalf("controls %+v at %d, want rack1 paused at 9", c, rev)
	}
}
