package proxy

import (
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// Passthrough worker names on an upstream V1 connection: what the pool said to each
// <pool user>.<worker> it was asked to authorize, kept for the workers mining on it.

// maxWorkerNames bounds the names one connection keeps the pool's authorize answers for.
// Eviction policy: at the bound the names of workers no longer mining on the connection are
// forgotten at once; if live names alone fill it (more miners than this on one connection,
// prefix_bytes 3), a new name is not authorized and its shares go under the pool user.
const maxWorkerNames = 65536

// workerPruneEvery is how often a connection forgets the names of workers that left it, so
// churned names do not pile up for the life of a session.
const workerPruneEvery = 10 * time.Second

// ensureWorker authorizes <pool user>.<worker> once on this connection (passthrough names).
// The pool has worker_auth_timeout to answer; sweep handles its silence.
func (u *upstreamV1) ensureWorker(worker string) {
	if worker == "" || !u.pl.passthrough() {
		return
	}
	name := u.pl.cfg.User + "." + worker
	u.mu.Lock()
	if _, ok := u.workers[name]; ok || u.out == nil || u.namesFull {
		u.mu.Unlock()
		return
	}
	if len(u.workers) >= u.maxNames {
		u.mu.Unlock()
		u.pruneWorkers()
		u.mu.Lock()
		if len(u.workers) >= u.maxNames {
			first := !u.namesLogd
			u.namesFull, u.namesLogd = true, true
			u.mu.Unlock()
			if !first {
				return
			}
			u.log.Warn().Int("max", u.maxNames).Msg("more worker names on one pool connection than it keeps; new names mine under the pool user until workers leave")
			return
		}
		if _, ok := u.workers[name]; ok || u.out == nil {
			u.mu.Unlock()
			return
		}
	}
	u.workers[name] = authPending
	u.mu.Unlock()
	if !u.request(&pendingReq{kind: "authorize", worker: name}, &sv1.Authorize{Username: name, Password: u.pl.cfg.Password}) {
		u.mu.Lock()
		delete(u.workers, name) // not sent: ask again when the worker next needs it
		u.mu.Unlock()
	}
}

// pruneWorkers forgets the pool's answers for names no longer mining on this connection. A
// worker that comes back is authorized again (submit asks for a name it finds missing).
func (u *upstreamV1) pruneWorkers() {
	live := u.pl.p.groupWorkers(u.idx)
	keep := make(map[string]struct{}, len(live))
	for _, w := range live {
		keep[u.pl.cfg.User+"."+w] = struct{}{}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for name := range u.workers {
		if _, ok := keep[name]; !ok {
			delete(u.workers, name)
		}
	}
	u.namesFull = false
}

// submitName is the name a share goes upstream under: the worker's own once the pool has
// authorized it on this connection, else the pool user. A share never waits for an
// authorize, and never goes under a name the pool has not accepted.
func (u *upstreamV1) submitName(worker string) string {
	if worker == "" || !u.pl.passthrough() {
		return u.pl.cfg.User
	}
	name := u.pl.cfg.User + "." + worker
	u.mu.Lock()
	st := u.workers[name]
	u.mu.Unlock()
	if st == authOK {
		return name
	}
	return u.pl.cfg.User
}
