package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// TestEnergyExportsThroughTheApp runs hashgate with the simulated site, a price meter and two
// simulated miners, one of them named like a spreadsheet formula with a comma in it: the
// console's exports read the app's own store (the policy's decision for rack1.a; the hostile
// worker's shares come out neutralised and whole), the report names the price meter's unit,
// and a signed-out request is refused.
func TestEnergyExportsThroughTheApp(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	const token = "hg_e2e_viewer_token"
	f.Console.Tokens = []console.TokenConfig{{Name: "e2e", TokenHash: console.HashToken(token), Role: console.RoleViewer}}
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	pm := meter.DefaultConfig()
	pm.Name, pm.Role, pm.Source, pm.Unit = "spot", meter.RolePrice, meter.KindSim, "EUR/MWh"
	pm.Trace = []meter.TracePoint{{Offset: 0, Value: 90}}
	pm.Loop = true
	pm.Interval = meter.Duration(100 * time.Millisecond)
	f.Meter = append(f.Meter, pm.WithDefaults())
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), &f, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The proxy refuses names with quotes, spaces or | (=cmd|' /C calc'!A0 never gets this
	// far), but =, +, -, @ and the comma are valid in pools' user.worker names.
	const hostile = "=1+1,-2@rig"
	for _, w := range []string{"rack1.a", hostile} {
		go miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: w, HashRate: 50000}).Run(ctx)
	}

	base := "http://" + a.ConsoleAddr.String()
	today := time.Now().UTC().Format(time.DateOnly)
	get := func(path, tok string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	records := func(file string, extra string) [][]string {
		t.Helper()
		code, h, b := get("/api/v1/export/"+file+"?from="+today+"&to="+today+extra, token)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("%s: %d %v %s", file, code, h, b)
		}
		r := csv.NewReader(strings.NewReader(string(b)))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s is not CSV: %v", file, err)
		}
		return recs
	}
	waitFor(t, "the policy's decision for rack1.a in decisions.csv", func() bool {
		for _, rec := range records("decisions.csv", "&worker=rack1.a")[1:] {
			if rec[2] == "rack1.a" && rec[3] == "run" {
				return true
			}
		}
		return false
	})
	waitFor(t, "the hostile worker's shares in shares.csv, neutralised", func() bool {
		recs := records("shares.csv", "&worker="+url.QueryEscape(hostile))
		return len(recs) > 1 && recs[1][2] == "'"+hostile
	})
	for _, rec := range records("shares.csv", "") {
		if strings.HasPrefix(rec[2], "=") {
			t.Fatalf("a formula cell left as is: %q", rec)
		}
	}

	code, _, b := get("/api/v1/energy/report?from="+today+"&to="+today, token)
	var rep struct {
		PriceUnit string `json:"price_unit"`
		Revenue   string `json:"revenue"`
	}
	if code != 200 || json.Unmarshal(b, &rep) != nil || rep.PriceUnit != "EUR/MWh" || rep.Revenue != "expected BTC from accepted shares" {
		t.Fatalf("report: %d %s", code, b)
	}
	if code, _, _ := get("/api/v1/export/decisions.csv?from="+today+"&to="+today, ""); code != http.StatusUnauthorized {
		t.Fatalf("signed-out export: %d", code)
	}
}
