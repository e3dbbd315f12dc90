package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbedOptions describe an in-process NATS server with JetStream.
type EmbedOptions struct {
	// Name is the server's name (unique in a NATS cluster).
	Name string
	// Listen is the client address (host:port; port 0 picks a free one).
	Listen string
	// StoreDir keeps JetStream's files: the lease bucket's revisions must survive a restart.
	StoreDir string
	// ClusterName, ClusterListen and Routes join other servers into a NATS cluster; empty
	// runs a lone server.
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// Embedded is a running in-process NATS server.
type Embedded struct{ s *server.Server }

// ErrEmbedNotReady is returned when the embedded server does not accept clients in time.
var ErrEmbedNotReady = errors.New("cluster: embedded NATS server not ready")

// StartEmbedded starts a NATS server with JetStream in this process.
func StartEmbedded(o EmbedOptions) (*Embedded, error) {
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("embed_listen: %w", err)
	}
	opts := &server.Options{ServerName: o.Name, Host: host, Port: port, JetStream: true, StoreDir: o.StoreDir,
		NoSigs: true, NoLog: true}
	if o.ClusterListen != "" {
		ch, cp, err := splitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("embed_cluster_listen: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: ch, Port: cp}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embed_routes: %w", err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, ErrEmbedNotReady
	}
	return &Embedded{s: s}, nil
}

func splitHostPort(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q", p)
	}
	if n == 0 {
		n = server.RANDOM_PORT // the server takes 0 as its default port, 4222
	}
	return h, n, nil
}

// ClientURL is where clients connect.
func (e *Embedded) ClientURL() string { return e.s.ClientURL() }

// Addr is the client listener's address.
func (e *Embedded) Addr() net.Addr { return e.s.Addr() }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.s.Shutdown()
	e.s.WaitForShutdown()
}
