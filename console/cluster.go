package console

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashgate/hashgate/cluster"
)

// ClusterReader is implemented by a Backend whose instance shares a site with others (a
// [cluster] table). The console then serves GET /api/v1/cluster and the hashgate_cluster_*
// gauges; without it the endpoint answers 404 and the gauges are absent.
type ClusterReader interface {
	// Cluster is this instance's view of its site; ok is false without a [cluster] table.
	Cluster() (st cluster.Status, ok bool)
}

// clusterRoutes mounts the site's status and registers its gauges.
func (s *Server) clusterRoutes(mux *http.ServeMux) {
	cr, ok := s.b.(ClusterReader)
	if !ok {
		return
	}
	if _, on := cr.Cluster(); !on {
		return
	}
	mux.Handle("GET /api/v1/cluster", s.read(func(w http.ResponseWriter, _ *http.Request, _ identity) {
		st, _ := cr.Cluster()
		writeJSON(w, http.StatusOK, st)
	}))
	role := func(r cluster.Role) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hashgate_cluster_role", Help: "1 for this instance's role in its site (leader, follower, isolated).",
			ConstLabels: prometheus.Labels{"role": r.String()}}, func() float64 {
			if st, _ := cr.Cluster(); st.Role == r {
				return 1
			}
			return 0
		})
	}
	s.reg.MustRegister(role(cluster.RoleLeader), role(cluster.RoleFollower), role(cluster.RoleIsolated),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hashgate_cluster_epoch", Help: "The highest leader epoch (lease revision) this instance has seen."}, func() float64 {
			st, _ := cr.Cluster()
			return float64(st.Epoch)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hashgate_cluster_instances", Help: "Instances of the site this one hears from (not stale)."}, func() float64 {
			st, _ := cr.Cluster()
			n := 0
			for _, in := range st.Instances {
				if !in.Stale {
					n++
				}
			}
			return float64(n)
		}))
}
