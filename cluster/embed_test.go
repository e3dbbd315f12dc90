package cluster

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Three embedded servers joined by embed_routes form one NATS cluster with JetStream: a
// message crosses it, the lease bucket is kept on all three, and the lease taken through one
// server is held against a client of another.
func TestEmbeddedServersFormACluster(t *testing.T) {
	dir := t.TempDir()
	routes := make([]string, 3)
	listens := make([]string, 3)
	for i := range 3 {
		listens[i] = "127.0.0.1:" + strconv.Itoa(freePort(t))
		routes[i] = "nats-route://" + listens[i]
	}
	var srv []*Embedded
	for i := range 3 {
		// Each starts alone; the routes find the others as they come up.
		e, err := StartEmbedded(EmbedOptions{Name: "n" + strconv.Itoa(i), Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, strconv.Itoa(i)),
			ClusterName: "hashgate-s1", ClusterListen: listens[i], Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown)
		srv = append(srv, e)
	}
	nc0, js0 := connect(t, srv[0].ClientURL())
	nc2, js2 := connect(t, srv[2].ClientURL())
	sub, err := nc2.SubscribeSync("hashgate.s1.leader")
	if err != nil {
		t.Fatal(err)
	}
	nc2.Flush()
	waitFor(t, "a message across the routes", func() bool {
		nc0.Publish("hashgate.s1.leader", []byte("x"))
		_, err := sub.NextMsg(20 * time.Millisecond)
		return err == nil
	})
	ctx := context.Background()
	var a, b *Lease
	waitFor(t, "JetStream ready in the cluster", func() bool {
		var err error
		a, err = OpenLease(ctx, js0, "s1", "a", 5*time.Second, nil)
		return err == nil
	})
	if b, err = OpenLease(ctx, js2, "s1", "b", 5*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if a.Replicas != 3 || b.Replicas != 3 {
		t.Fatalf("a lease bucket on %d/%d servers of 3", a.Replicas, b.Replicas)
	}
	if ok, err := a.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b took a held lease through another server: %v %v", ok, err)
	}
}
