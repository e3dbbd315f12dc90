package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hashgate/hashgate/internal/clock"
)

// leaseKey is the one key of a site's lease bucket.
const leaseKey = "leader"

// Lease is the site leadership held in a JetStream KV bucket whose entries live TTL at the
// server. It is taken with Create (only when the key is absent, expired or deleted) and kept
// with Update against the revision last written, so only the holder can renew. The epoch,
// the fencing token every order carries, is the bucket's creation time in Unix seconds in the
// high 32 bits and the revision at acquisition in the low ones: revisions only grow in a
// bucket, and a bucket deleted and created again (its revisions restart at 1) is created
// later, so a later leader always has a higher epoch.
//
// The value written is the holder's name and a random id of this Lease: a process recovering
// a renewal whose answer was lost must not take the write of another process that runs under
// the same name (a cloned machine keeps its hostname) for its own. A renewal adds the term's
// revision ("name:id:rev"), so the key shows the exact epoch its holder commands under: every
// renewal raises the revision, and an epoch between the term's and the latest revision must
// not pass for the holder's (a forged heartbeat naming the real leader would fence it out).
// A write without the term (the acquisition, or the first renewal of a new term) makes its own
// revision the term.
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
	value    string
	ttl      time.Duration
	margin   time.Duration
	clk      clock.Clock

	mu   sync.Mutex
	held bool
	// unsure is when the last renewal whose answer was lost (a timeout) was sent: the
	// server may have stored it.
	unsure time.Time
	rev    uint64
	epoch  uint64
	// base is the bucket's creation time, the epoch's high bits, as read at acquisition.
	base     uint64
	deadline time.Time
	newTerm  bool
}

// ErrLeaseLost is returned by Renew when the lease is gone: expired at the holder's own
// deadline, or written by someone else.
var ErrLeaseLost = errors.New("cluster: lease lost")

// LeaseBucket is the KV bucket name of a site's lease.
func LeaseBucket(site string) string { return "hashgate_lease_" + site }

// OpenLease opens the site's lease bucket, creating it when missing with the given TTL, kept
// on three servers when the connection knows of three or more (the lease survives the loss of
// one), on one otherwise. A bucket that exists with another TTL is refused with a
// *ConfigError naming lease_ttl, never rewritten: the holder counts on its own TTL for its
// deadline, and a shorter one set by a peer would let the key expire at the server while the
// holder still commands (two leaders). Every instance of a site needs the same lease_ttl.
func OpenLease(ctx context.Context, js jetstream.JetStream, site, holder string, ttl time.Duration, clk clock.Clock) (*Lease, error) {
	replicas := 1
	if len(js.Conn().Servers()) >= 3 {
		replicas = 3
	}
	cfg := jetstream.KeyValueConfig{
		Bucket: LeaseBucket(site), TTL: ttl, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		Description: "hashgate site leader lease",
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket) // a peer created it first, maybe otherwise
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.TTL() != ttl {
		return nil, cfgErr("lease_ttl", "%s, but the site's lease bucket %s keeps its lease %s: every instance of site %q needs the same lease_ttl (to change it, stop them all and delete the bucket)",
			ttl, cfg.Bucket, st.TTL(), site)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil && bs.StreamInfo().Config.Replicas < replicas {
		// More servers than when it was created: the same bucket, kept on three.
		if kv, err = js.UpdateKeyValue(ctx, cfg); err != nil {
			return nil, err
		}
	} else if ok && bs.StreamInfo() != nil {
		replicas = bs.StreamInfo().Config.Replicas
	}
	if clk == nil {
		clk = clock.Real
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &Lease{kv: kv, Replicas: replicas, holder: holder, value: holder + ":" + hex.EncodeToString(id[:]), ttl: ttl, margin: ttl / 5, clk: clk}, nil
}

// bucketBase reads the bucket's creation time: the epoch's high 32 bits.
func (l *Lease) bucketBase(ctx context.Context) (uint64, error) {
	st, err := l.kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil || bs.StreamInfo().Created.Unix() <= 0 {
		return 0, errors.New("cluster: lease bucket creation time unknown")
	}
	return uint64(bs.StreamInfo().Created.Unix()) << 32, nil
}

// epochOf is the epoch of revision rev in a bucket created at base.
func epochOf(base, rev uint64) uint64 { return base | rev&0xffffffff }

// HolderOf is the instance name in a lease value ("" when it is not one).
func HolderOf(value []byte) string {
	name, _, ok := strings.Cut(string(value), ":")
	if !ok {
		return ""
	}
	return name
}

// termOf is the revision a lease value written at rev names as its term: the one it carries,
// or rev itself for a value without one. ok is false for a value that names a later term than
// its own revision or is not a lease value at all.
func termOf(value []byte, rev uint64) (uint64, bool) {
	_, rest, ok := strings.Cut(string(value), ":")
	if !ok {
		return 0, false
	}
	_, term, ok := strings.Cut(rest, ":")
	if !ok {
		return rev, true
	}
	t, err := strconv.ParseUint(term, 10, 64)
	if err != nil || t == 0 || t > rev {
		return 0, false
	}
	return t, true
}

// Current reads the lease key: the instance holding it and the epoch of its term. It proves
// a leader's claim to exactly that epoch before an instance obeys it.
func (l *Lease) Current(ctx context.Context) (holder string, epoch uint64, err error) {
	base, err := l.bucketBase(ctx)
	if err != nil {
		return "", 0, err
	}
	e, err := l.kv.Get(ctx, leaseKey)
	if err != nil {
		return "", 0, err
	}
	term, ok := termOf(e.Value(), e.Revision())
	if !ok {
		return "", 0, fmt.Errorf("cluster: lease value %.64q at revision %d is not a term", e.Value(), e.Revision())
	}
	return HolderOf(e.Value()), epochOf(base, term), nil
}

// writtenLocked is the value a renewal writes: this Lease's name and id, with the term's revision
// unless the renewal starts a new term. l.mu held.
func (l *Lease) writtenLocked() []byte {
	if l.newTerm {
		return []byte(l.value)
	}
	return []byte(l.value + ":" + strconv.FormatUint(l.epoch&0xffffffff, 10))
}

// TryAcquire takes the lease if nobody holds it. It reports whether this instance now holds
// it; a lease held by someone else is not an error.
func (l *Lease) TryAcquire(ctx context.Context) (bool, error) {
	sent := l.clk.Now()
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.value))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	base, err := l.bucketBase(ctx)
	if err != nil {
		// Without the creation time the epoch could go backwards: give the key back.
		_ = l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(rev))
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held, l.rev, l.base, l.epoch, l.deadline, l.newTerm, l.unsure = true, rev, base, epochOf(base, rev), sent.Add(l.ttl-l.margin), false, time.Time{}
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
	last, value, starts := l.rev, l.writtenLocked(), l.newTerm
	l.mu.Unlock()
	sent := l.clk.Now()
	rev, err := l.kv.Update(ctx, leaseKey, value, last)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held || l.rev != last {
		return ErrLeaseLost
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && !l.unsure.IsZero() {
			// A renewal whose answer was lost may have been stored: if the key holds this
			// Lease's value (name and id) at a later revision, that write is ours, made
			// after it was sent.
			unsure := l.unsure
			l.mu.Unlock()
			e, gerr := l.kv.Get(ctx, leaseKey)
			l.mu.Lock()
			if gerr == nil && l.ours(e.Value()) && e.Revision() > last && l.held && l.rev == last && unsure.Before(l.deadline) {
				l.rev, l.deadline, l.unsure = e.Revision(), unsure.Add(l.ttl-l.margin), time.Time{}
				if term, _ := termOf(e.Value(), e.Revision()); term == e.Revision() {
					// The stored write carried no term (sent to start one): its revision is
					// the new term. One that carried the old term keeps it.
					l.epoch, l.newTerm = epochOf(l.base, term), false
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
	if starts {
		// The write carried no term: its revision is the new one (and serves a NewTerm asked
		// for while it was on its way).
		l.epoch, l.newTerm = epochOf(l.base, rev), false
	}
	return nil
}

// ours reports whether a lease value is this Lease's (its name and id, with or without a
// term).
func (l *Lease) ours(v []byte) bool {
	return string(v) == l.value || strings.HasPrefix(string(v), l.value+":")
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
