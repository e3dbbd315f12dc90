package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hashgate/hashgate/internal/clock"
)

// leaseKey is the one key of a site's lease bucket.
const leaseKey = "leader"

// Lease is the site leadership held in a JetStream KV bucket whose entries live TTL at the
// server. It is taken with Create (only when the key is absent, expired or deleted) and kept
// with Update against the revision last written, so only the holder can renew. The revision
// at acquisition is the epoch, the fencing token every order carries: revisions only grow in
// a bucket, so a later leader always has a higher epoch.
//
// The holder counts its lease as valid until the time it sent its last successful write plus
// TTL minus a margin. The server starts the TTL when it stores that write, later than it was
// sent, so the holder gives up before any other instance can take the key: two leaders never
// overlap in time (given clocks that run at the same rate).
type Lease struct {
	kv jetstream.KeyValue
	// Replicas is how many servers keep the bucket.
	Replicas int
	holder   string
	ttl      time.Duration
	margin   time.Duration
	clk      clock.Clock

	mu   sync.Mutex
	held bool
	// unsure is when the last renewal whose answer was lost (a timeout) was sent: the
	// server may have stored it.
	unsure   time.Time
	rev      uint64
	epoch    uint64
	deadline time.Time
	newTerm  bool
}

// ErrLeaseLost is returned by Renew when the lease is gone: expired at the holder's own
// deadline, or written by someone else.
var ErrLeaseLost = errors.New("cluster: lease lost")

// LeaseBucket is the KV bucket name of a site's lease.
func LeaseBucket(site string) string { return "hashgate_lease_" + site }

// OpenLease creates (or opens) the site's lease bucket with the given TTL, kept on three
// servers when the connection knows of three or more (the lease survives the loss of one), on
// one otherwise.
func OpenLease(ctx context.Context, js jetstream.JetStream, site, holder string, ttl time.Duration, clk clock.Clock) (*Lease, error) {
	replicas := 1
	if len(js.Conn().Servers()) >= 3 {
		replicas = 3
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseBucket(site), TTL: ttl, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		Description: "hashgate site leader lease",
	})
	if err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real
	}
	return &Lease{kv: kv, Replicas: replicas, holder: holder, ttl: ttl, margin: ttl / 5, clk: clk}, nil
}

// TryAcquire takes the lease if nobody holds it. It reports whether this instance now holds
// it; a lease held by someone else is not an error.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	sent := l.clk.Now()
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.holder))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held, l.rev, l.epoch, l.deadline, l.newTerm, l.unsure = true, rev, rev, sent.Add(l.ttl-l.margin), false, time.Time{}
	return true, nil
}

// Renew extends the lease. A renewal the server refuses because someone else wrote the key
// loses the lease at once; one that fails otherwise loses it only when the holder's deadline
// has passed (Held then reports false anyway).
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		return ErrLeaseLost
	}
	last := l.rev
	l.mu.Unlock()
	sent := l.clk.Now()
	rev, err := l.kv.Update(ctx, leaseKey, []byte(l.holder), last)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held || l.rev != last {
		return ErrLeaseLost
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && !l.unsure.IsZero() {
			// A renewal whose answer was lost may have been stored: if the key holds our
			// name at a later revision, that write is ours, made after it was sent.
			unsure := l.unsure
			l.mu.Unlock()
			e, gerr := l.kv.Get(ctx, leaseKey)
			l.mu.Lock()
			if gerr == nil && string(e.Value()) == l.holder && e.Revision() > last && l.held && l.rev == last && unsure.Before(l.deadline) {
				l.rev, l.deadline, l.unsure = e.Revision(), unsure.Add(l.ttl-l.margin), time.Time{}
				if l.newTerm {
					l.epoch, l.newTerm = l.rev, false
				}
				return nil
			}
		}
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || errors.Is(err, jetstream.ErrKeyNotFound) {
			l.held = false
			return ErrLeaseLost
		}
		if !sent.Before(l.deadline) {
			l.held = false
			return ErrLeaseLost
		}
		if l.unsure.IsZero() {
			l.unsure = sent
		}
		return err
	}
	l.rev, l.deadline, l.unsure = rev, sent.Add(l.ttl-l.margin), time.Time{}
	if l.newTerm {
		l.epoch, l.newTerm = rev, false
	}
	return nil
}

// Deadline is when the holder stops counting its lease valid (zero when not held).
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return time.Time{}
	}
	return l.deadline
}

// Held returns the epoch and whether the lease is valid at now.
func (l *Lease) Held(now time.Time) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held && !now.Before(l.deadline) {
		l.held = false
	}
	return l.epoch, l.held
}

// NewTerm makes the next successful renewal's revision the epoch: an instance that isolated
// itself at the current epoch obeys only a newer one.
func (l *Lease) NewTerm() {
	l.mu.Lock()
	l.newTerm = l.held
	l.mu.Unlock()
}

// Release gives the lease up at once (a clean shutdown): the next instance need not wait
// for the TTL. It deletes the key only at the revision this holder wrote.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.held = false
	l.mu.Unlock()
	if !held {
		return nil
	}
	return l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(rev))
}
