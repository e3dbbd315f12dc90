// Package console is hashgate's operator interface: an HTTP server with an embedded web UI,
// a REST API under /api/v1/, one websocket stream of live updates, Prometheus /metrics and
// /healthz.
//
// The console never reaches into the proxy or the policy engine: everything it shows comes
// from snapshots read through [Backend], and every control action goes back through
// [Backend] with the name of the operator who asked, so the wiring can audit it.
//
// Live updates are computed once per tick by a single hub goroutine (snapshot on connect,
// then deltas) and fanned out to clients through bounded queues; a client whose queue is
// full is evicted rather than allowed to delay the others, and its browser reconnects and
// receives a fresh snapshot.
//
// Security model: operator accounts (argon2id password hashes) and API tokens (SHA-256
// hashes of random tokens) come from the config, with the roles viewer (read) and admin
// (control). Browser sessions use an HttpOnly, SameSite=Strict cookie (Secure under TLS);
// state-changing requests authenticated by cookie must carry the session's CSRF token in the
// X-CSRF-Token header and, when present, an allowed Origin. Logins are rate-limited per
// client IP. With no account configured the console is read-only and refuses to bind to
// anything but a loopback address.
package console
