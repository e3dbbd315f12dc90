package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
)

// TestMetersAPISaysWhatThePolicyRejects: a site meter pushing -50 kW or a jump to 1e12 kW
// calls its reading good; the policy faults it, and GET /api/v1/meters says so (trusted
// false) instead of leaving "good" to stand for healthy. A sane reading makes it trusted again.
func TestMetersAPISaysWhatThePolicyRejects(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token, pushToken = "hg_meters_viewer_token", "push-token-0123456789"
	f.Console.Tokens = []console.TokenConfig{{Name: "v", TokenHash: console.HashToken(token), Role: console.RoleViewer}}
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	p.StaleAfter = policy.Duration(time.Minute) // only the values may make the meter untrusted
	f.Policy = &p
	m := meter.DefaultConfig()
	m.Name, m.Role, m.Source, m.PushToken, m.Unit = "grid", meter.RoleSiteImport, meter.KindHTTP, pushToken, "kW"
	f.Meter = []meter.Config{m.WithDefaults()}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := "http://" + a.ConsoleAddr.String()

	push := func(kw float64) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/v1/meters/grid/push", strings.NewReader(fmt.Sprintf(`{"value":%g}`, kw)))
		req.Header.Set("Authorization", "Bearer "+pushToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("push %g kW: %s", kw, res.Status)
		}
	}
	type status struct {
		Name    string
		Value   float64
		Quality string
		Trusted bool
	}
	get := func() status {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/api/v1/meters", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var ms []status
		if err := json.NewDecoder(res.Body).Decode(&ms); err != nil || len(ms) != 1 {
			t.Fatalf("meters: %v %+v", err, ms)
		}
		return ms[0]
	}
	// A value is pushed (again, while repeating it cannot change the verdict: pushes are dated
	// now, so each is new to the policy) until the API shows it, then its trust is read.
	expect := func(kw float64, trusted, again bool) {
		t.Helper()
		var s status
		pushed := false
		waitFor(t, fmt.Sprintf("the API to show %g kW trusted=%v", kw, trusted), func() bool {
			if again || !pushed {
				push(kw)
				pushed = true
			}
			time.Sleep(20 * time.Millisecond)
			s = get()
			return s.Value == kw && s.Trusted == trusted
		})
		if s.Quality != "good" {
			t.Fatalf("%g kW: quality %q (the meter itself calls it good)", kw, s.Quality)
		}
	}
	expect(500, true, true)
	expect(-50, false, true) // negative import without allow_export
	expect(500, true, true)
	// A jump to 1e12 kW waits for a second reading to confirm it; until then it is not
	// trusted. (Two readings that agree make it the new level: the fleet then sheds.)
	expect(1e12, false, false)
}
