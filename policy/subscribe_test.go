package policy_test

import (
	"testing"

	"github.com/hashgate/hashgate/policy"
)

// TestSubscribeCapacity: a subscriber gets the room it asks for, DefaultSubscription when it
// asks for none.
func TestSubscribeCapacity(t *testing.T) {
	r, err := policy.NewRunner(simConfig(), policy.RunnerOptions{Clock: &manualClock{now: epoch}, Actuator: heldUntil(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for ask, want := range map[int]int{0: policy.DefaultSubscription, -1: policy.DefaultSubscription, 3: 3, 1024: 1024} {
		sub := r.Subscribe(ask)
		if got := cap(sub.C()); got != want {
			t.Errorf("Subscribe(%d): room for %d, want %d", ask, got, want)
		}
		sub.Close()
	}
}
