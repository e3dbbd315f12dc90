package console

import (
	"net/http"
	"time"

	"github.com/hashgate/hashgate/alert"
)

// AlertReader is implemented by a Backend that evaluates alerts (the wiring's alert.Engine):
// the console shows the firing ones in a banner and at GET /api/v1/alerts. Alerts must not
// block; it returns the latest check's outcome.
type AlertReader interface {
	Alerts() alert.Report
}

// alertsResponse is the body of GET /api/v1/alerts.
type alertsResponse struct {
	// Configured is false when the backend evaluates no alerts: an empty list then does not
	// mean all is well.
	Configured bool `json:"configured"`
	// CheckedAt is when the alerts were last evaluated (absent before the first check).
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Alerts are the firing alerts, most severe first.
	Alerts []alert.Alert `json:"alerts"`
}

func (s *Server) handleAlerts(w http.ResponseWriter, _ *http.Request, _ identity) {
	res := alertsResponse{Alerts: []alert.Alert{}}
	if ar, ok := s.b.(AlertReader); ok {
		rep := ar.Alerts()
		res.Configured, res.CheckedAt = true, rep.At
		if rep.Firing != nil {
			res.Alerts = rep.Firing
		}
	}
	writeJSON(w, http.StatusOK, res)
}
