// Package alert tells someone when the site needs attention, for sites that run no
// Prometheus and Alertmanager: no pool up, a stale meter, the site over its import limit,
// the fleet held at its safe floor, miners gone offline, a failing store.
//
// One Engine owns the alert state. Every check_interval it reads a Snapshot of the running
// components (the same accessors the console uses), decides which conditions hold, and turns
// a condition that held for its configured time into a firing alert. Each change to firing or
// resolved, and each repeat of a firing alert, goes to every [[alert.webhook]] whose
// min_severity it meets, as Slack-compatible JSON. Each webhook has its own bounded queue and
// sender, so a receiver that hangs delays only its own notifications, never the checks or
// the other receivers. The same conditions are in deploy/prometheus/alerts.yml for sites that
// run Alertmanager.
package alert
