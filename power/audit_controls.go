package power

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashgate/hashgate/store"
)

// KindSiteControls is the audit event that keeps a clustered instance's copy of its site's
// controls document: the subject is the site, the detail {"revision", "controls"}. The
// newest one per site is what the next start applies until NATS answers.
const KindSiteControls = "cluster.controls"

// ControlsStore keeps a cluster.Node's copy of its site's controls document as audit events
// (cluster.ControlsStore): no table of its own, and the trail shows when each revision was
// taken.
type ControlsStore struct{ st *store.Store }

// NewControlsStore returns the copy kept in st.
func NewControlsStore(st *store.Store) ControlsStore { return ControlsStore{st: st} }

type keptControls struct {
	Revision uint64          `json:"revision"`
	Controls json.RawMessage `json:"controls"`
}

// SaveControls records the document (nil: none) for site; it is on disk when it returns.
func (c ControlsStore) SaveControls(ctx context.Context, site string, rev uint64, doc []byte) error {
	if doc == nil {
		doc = []byte("null")
	}
	detail, err := json.Marshal(keptControls{Revision: rev, Controls: doc})
	if err != nil {
		return fmt.Errorf("power: site controls: %w", err)
	}
	_, err = c.st.RecordEvent(ctx, store.Event{Time: time.Now(), Kind: KindSiteControls, Subject: site, Detail: detail})
	return err
}

// LoadControls returns the newest copy recorded for site; doc is nil when the site had no
// document. A record whose detail does not parse is an error: the caller starts without one.
func (c ControlsStore) LoadControls(ctx context.Context, site string) (uint64, []byte, bool, error) {
	evs, err := c.st.LatestEvents(ctx, KindSiteControls)
	if err != nil {
		return 0, nil, false, err
	}
	ev, ok := evs[site]
	if !ok {
		return 0, nil, false, nil
	}
	var k keptControls
	if err := json.Unmarshal(ev.Detail, &k); err != nil {
		return 0, nil, false, fmt.Errorf("power: kept site controls: %w", err)
	}
	if len(k.Controls) == 0 || string(k.Controls) == "null" {
		return k.Revision, nil, true, nil
	}
	return k.Revision, k.Controls, true, nil
}
