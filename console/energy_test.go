package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/store"
)

// energyBackend is the fleet stand-in with a real store behind the energy pages.
type energyBackend struct {
	*fleetBackend
	st   *store.Store
	unit string
}

var _ EnergyReader = energyBackend{}

func (b energyBackend) EnergyStore() (*store.Store, error) { return b.st, nil }
func (b energyBackend) PriceUnit() string                  { return b.unit }

func openEnergyStore(t testing.TB) *store.Store {
	t.Helper()
	sc := store.DefaultConfig()
	sc.Path = filepath.Join(t.TempDir(), "hashgate.db")
	sc.PruneInterval = 0
	st, err := store.Open(context.Background(), sc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// energyDay is the UTC day the energy tests record.
var energyDay = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// hostileWorker is a worker name that a spreadsheet would run as a command.
const hostileWorker = `=cmd|' /C calc'!A0`

// seedEnergy records what the export and report tests read: hostile text in every text
// column, commas, quotes and newlines, a negative (exporting) site import, and two groups.
func seedEnergy(t testing.TB, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	at := energyDay.Add(10 * time.Hour)
	if err := st.RecordDecisions(ctx,
		store.Decision{Time: at, MinerID: hostileWorker, Action: "pause", ReasonCode: "import_limit",
			Reason: "shed, \"import\" over\nthe limit"},
		store.Decision{Time: at.Add(time.Second), MinerID: "rack1.a", Action: "run", TargetKW: 3.5, ReasonCode: "restore", Reason: "room"},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordEvent(ctx, store.Event{Time: at, Kind: "manual.pause", Subject: "+SUM(A1:A9)", Actor: "@ops",
		Detail: json.RawMessage(`{"note":"=1+1"}`)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := at.Add(time.Duration(i) * time.Minute)
		if err := st.RecordEnergy(ctx, store.EnergyInterval{Start: start, Length: time.Minute, ImportKWh: -0.5, MiningKWh: 7.0 / 60, BudgetKWh: 0.2}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordGroupEnergy(ctx, []store.GroupEnergy{
			{Start: start, Length: time.Minute, Group: "-low", EstimatedKWh: 0, ShedKWh: 3.5 / 60, CurtailedSeconds: 60, CurtailEvents: int64(1 - min(i, 1)), Miners: 1, EstimatedSamples: 12},
			{Start: start, Length: time.Minute, Group: "high", MeasuredKWh: 3.5 / 60, PricedKWh: 3.5 / 60, Cost: 3.5 / 60 * 90 / 1000, Miners: 1, MeasuredSamples: 12},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{hostileWorker, "rack1.a"} {
		if err := st.RecordShare(ctx, store.ShareEvent{Time: at, Worker: w, Pool: "main", Job: "j", Difficulty: 512, ShareDifficulty: 600,
			Result: store.ResultPoolAccepted, ExpectedSats: 1234.5}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// getAs fetches path with the viewer's bearer token ("" for none).
func getAs(t testing.TB, base, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func parseCSV(t testing.TB, body []byte) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(string(body)))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	return recs
}

// TestExportCSVNeutralisesFormulasAndQuotes: each of the four exports parses back with
// encoding/csv; a cell a spreadsheet would run (a miner-chosen worker name, an event subject,
// an actor, a group) starts with an apostrophe; commas, quotes and a newline in a reason come
// back intact; numbers, negative ones included, stay numbers; the file is an attachment.
func TestExportCSVNeutralisesFormulasAndQuotes(t *testing.T) {
	st := openEnergyStore(t)
	seedEnergy(t, st)
	s := newServer(t, authConfig(), energyBackend{fleetBackend: newFleetBackend(1, true), st: st})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const q = "?from=2026-06-01&to=2026-06-01"

	resp, body := getAs(t, ts.URL, "/api/v1/export/decisions.csv"+q, viewerToken)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="hashgate-decisions-2026-06-01-2026-06-01.csv"` {
		t.Fatalf("decisions.csv: %d %v", resp.StatusCode, resp.Header)
	}
	recs := parseCSV(t, body)
	if len(recs) != 3 || strings.Join(recs[0], ",") != "id,time,miner,action,target_kw,reason_code,reason" {
		t.Fatalf("decisions.csv: %q", recs)
	}
	if recs[1][2] != "'"+hostileWorker || recs[1][6] != "shed, \"import\" over\nthe limit" || recs[2][4] != "3.5" {
		t.Errorf("decisions rows: %q", recs[1:])
	}

	_, body = getAs(t, ts.URL, "/api/v1/export/events.csv"+q, viewerToken)
	recs = parseCSV(t, body)
	if len(recs) != 2 || recs[1][3] != "'+SUM(A1:A9)" || recs[1][4] != "'@ops" || recs[1][5] != `{"note":"=1+1"}` {
		t.Errorf("events.csv: %q", recs)
	}

	_, body = getAs(t, ts.URL, "/api/v1/export/energy.csv"+q, viewerToken)
	recs = parseCSV(t, body)
	if len(recs) != 1+3*3 {
		t.Fatalf("energy.csv: %q", recs)
	}
	// Per minute: the site row, then the groups by name ("-low" sorts before "high").
	if recs[1][2] != "" || recs[1][3] != "-0.5" || recs[2][2] != "'-low" || recs[3][2] != "high" || recs[2][11] != "1" || recs[5][11] != "0" {
		t.Errorf("energy rows: %q", recs[1:6])
	}

	_, body = getAs(t, ts.URL, "/api/v1/export/shares.csv"+q, viewerToken)
	recs = parseCSV(t, body)
	if len(recs) != 3 || recs[1][2] != "'"+hostileWorker || recs[1][4] != "pool_accepted" || recs[1][7] != "512" || recs[1][1] != "minute" {
		t.Errorf("shares.csv: %q", recs)
	}
	// worker= keeps one worker, the hostile name given as typed.
	_, body = getAs(t, ts.URL, "/api/v1/export/shares.csv"+q+"&worker="+urlQuery(hostileWorker), viewerToken)
	if recs = parseCSV(t, body); len(recs) != 2 {
		t.Errorf("shares.csv for one worker: %q", recs)
	}
	_, body = getAs(t, ts.URL, "/api/v1/export/decisions.csv"+q+"&worker=rack1.a", viewerToken)
	if recs = parseCSV(t, body); len(recs) != 2 || recs[1][2] != "rack1.a" {
		t.Errorf("decisions.csv for one worker: %q", recs)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "'", "%27", "|", "%7C", "=", "%3D", "!", "%21")
	return r.Replace(s)
}

// TestExportCSVLimits: the exports need a signed-in caller, a valid range of at most 31 days
// and a known file; an export past its row cap ends with a truncation row, one at the cap
// does not; a range of more than one page is streamed whole.
func TestExportCSVLimits(t *testing.T) {
	st := openEnergyStore(t)
	ctx := context.Background()
	var ds []store.Decision
	for i := range 1203 {
		ds = append(ds, store.Decision{Time: energyDay.Add(time.Duration(i) * time.Second), MinerID: fmt.Sprintf("m%d", i), Action: "pause", ReasonCode: "x", Reason: "y"})
	}
	if err := st.RecordDecisions(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, authConfig(), energyBackend{fleetBackend: newFleetBackend(1, true), st: st})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const q = "?from=2026-06-01&to=2026-06-01"

	for _, f := range []string{"decisions.csv", "events.csv", "energy.csv", "shares.csv"} {
		if resp, _ := getAs(t, ts.URL, "/api/v1/export/"+f+q, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s signed out: %d", f, resp.StatusCode)
		}
	}
	for path, want := range map[string]int{
		"/api/v1/export/decisions.csv":                                             400, // no range
		"/api/v1/export/decisions.csv?from=2026-06-01":                             400,
		"/api/v1/export/decisions.csv?from=June&to=2026-06-01":                     400,
		"/api/v1/export/decisions.csv?from=2026-06-02&to=2026-06-01":               400,
		"/api/v1/export/decisions.csv?from=2026-06-01&to=2026-07-02":               400, // 32 days
		"/api/v1/export/decisions.csv?from=2026-06-01&to=2026-07-01":               200, // 31 days
		"/api/v1/export/passwords.csv" + q:                                         404,
		"/api/v1/export/decisions.csv" + q + "&worker=" + strings.Repeat("w", 300): 400,
	} {
		if resp, body := getAs(t, ts.URL, path, viewerToken); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}

	_, body := getAs(t, ts.URL, "/api/v1/export/decisions.csv"+q, viewerToken)
	recs := parseCSV(t, body)
	if len(recs) != 1+1203 || recs[1203][2] != "m1202" {
		t.Fatalf("%d records over three pages, last %q", len(recs), recs[len(recs)-1])
	}

	capped := func(max int) [][]string {
		req := httptest.NewRequest("GET", "/api/v1/export/decisions.csv"+q, nil)
		req.SetPathValue("file", "decisions.csv")
		rec := httptest.NewRecorder()
		s.export(rec, req, max, time.Minute)
		return parseCSV(t, rec.Body.Bytes())
	}
	recs = capped(600)
	if len(recs) != 1+600+1 || !strings.HasPrefix(recs[601][0], "# truncated: more than 600 rows") || recs[600][2] != "m599" {
		t.Fatalf("capped at 600: %d records, last %q", len(recs), recs[len(recs)-1])
	}
	if recs = capped(1203); len(recs) != 1+1203 || strings.HasPrefix(recs[1203][0], "#") {
		t.Fatalf("at the cap exactly: %d records, last %q", len(recs), recs[len(recs)-1])
	}
}

// TestEnergyReportAPI: the daily report per group with its definitions' figures, one group's
// rows, the raw series, the price unit, the range limits, and 409 without a store.
func TestEnergyReportAPI(t *testing.T) {
	st := openEnergyStore(t)
	seedEnergy(t, st)
	s := newServer(t, authConfig(), energyBackend{fleetBackend: newFleetBackend(1, true), st: st, unit: "EUR/MWh"})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	resp, body := getAs(t, ts.URL, "/api/v1/energy/report?from=2026-05-31&to=2026-06-01", viewerToken)
	var rep energyReportResponse
	if resp.StatusCode != 200 || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("report: %d %s", resp.StatusCode, body)
	}
	if rep.PriceUnit != "EUR/MWh" || rep.Revenue != revenueNote || len(rep.Days) != 1 || rep.Days[0].Day != "2026-06-01" || len(rep.Days[0].Groups) != 2 {
		t.Fatalf("report: %s", body)
	}
	d := rep.Days[0]
	low, high := d.Groups[0], d.Groups[1]
	if low.Group != "-low" || low.CurtailedMinutes != 3 || low.CurtailEvents != 1 || fmt.Sprintf("%.4f", low.ShedKWh) != "0.1750" || low.MiningKWh != 0 {
		t.Errorf("low: %+v", low)
	}
	if high.ShedKWh != 0 || high.CurtailedMinutes != 0 || fmt.Sprintf("%.4f", high.MiningKWh) != "0.1750" || fmt.Sprintf("%.6f", high.Cost) != "0.015750" || high.MeasuredSamples != 36 {
		t.Errorf("high: %+v", high)
	}
	if d.AcceptedDifficulty != 1024 || d.RevenueBTC != 2469/1e8 || d.Site.Minutes != 3 || d.Site.ImportKWh != -1.5 {
		t.Errorf("day: %+v", d)
	}

	_, body = getAs(t, ts.URL, "/api/v1/energy/report?from=2026-06-01&to=2026-06-01&group=high", viewerToken)
	if err := json.Unmarshal(body, &rep); err != nil || len(rep.Days) != 1 || len(rep.Days[0].Groups) != 1 || rep.Days[0].Groups[0].Group != "high" {
		t.Errorf("group filter: %s", body)
	}

	// A group or worker written as SQL matches nothing: it is a parameter, never query text.
	_, body = getAs(t, ts.URL, "/api/v1/energy/report?from=2026-06-01&to=2026-06-01&group="+urlQuery("high' OR '1'='1"), viewerToken)
	if err := json.Unmarshal(body, &rep); err != nil || len(rep.Days) != 1 || len(rep.Days[0].Groups) != 0 {
		t.Errorf("group as SQL: %s", body)
	}
	if _, body := getAs(t, ts.URL, "/api/v1/export/decisions.csv?from=2026-06-01&to=2026-06-01&worker="+urlQuery("x' OR '1'='1"), viewerToken); len(parseCSV(t, body)) != 1 {
		t.Errorf("worker as SQL: %s", body)
	}

	resp, body = getAs(t, ts.URL, "/api/v1/energy?from=2026-06-01&to=2026-06-01", viewerToken)
	var series energySeriesResponse
	if resp.StatusCode != 200 || json.Unmarshal(body, &series) != nil || len(series.Site) != 3 || len(series.Groups) != 6 ||
		series.Site[0].LengthS != 60 || series.Groups[1].Group != "high" || series.Groups[1].Miners != 1 {
		t.Errorf("series: %d %s", resp.StatusCode, body)
	}

	for path, want := range map[string]int{
		"/api/v1/energy?from=2026-06-01&to=2026-06-08":        400, // 8 days
		"/api/v1/energy?from=2026-06-01&to=2026-06-07":        200,
		"/api/v1/energy/report?from=2026-01-01&to=2027-01-02": 400, // 367 days
		"/api/v1/energy/report?from=2026-01-01&to=2027-01-01": 200, // 366 days
		"/api/v1/energy/report?to=2026-12-31":                 400,
		"/api/v1/energy/report?from=2262-04-01&to=2262-04-30": 400, // past the store's nanosecond times
		"/api/v1/energy/report?from=1677-06-01&to=1677-06-02": 400,
		"/api/v1/energy/report?from=2026-02-30&to=2026-03-01": 400, // no such day
	} {
		if resp, body := getAs(t, ts.URL, path, viewerToken); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
	if resp, _ := getAs(t, ts.URL, "/api/v1/energy/report?from=2026-06-01&to=2026-06-01", ""); resp.StatusCode != 401 {
		t.Errorf("report signed out: %d", resp.StatusCode)
	}

	bare := newServer(t, authConfig(), newFleetBackend(1, true))
	ts2 := httptest.NewServer(bare.Handler())
	defer ts2.Close()
	if resp, body := getAs(t, ts2.URL, "/api/v1/energy/report?from=2026-06-01&to=2026-06-01", viewerToken); resp.StatusCode != http.StatusConflict {
		t.Errorf("without a store: %d %s", resp.StatusCode, body)
	}
}

// TestExportCutsOffAClientThatStopsReading: a client asks for a large export and never reads
// the answer. Once the socket buffers are full, the page it does not take within the write
// wait ends the export: the handler returns (no goroutine held for good) and the rest is not
// read from the store.
func TestExportCutsOffAClientThatStopsReading(t *testing.T) {
	st := openEnergyStore(t)
	ctx := context.Background()
	long := strings.Repeat("x", 2000)
	for b := range 20 {
		var ds []store.Decision
		for i := range 1000 {
			ds = append(ds, store.Decision{Time: energyDay.Add(time.Duration(b*1000+i) * time.Second), MinerID: "m", Action: "pause", ReasonCode: "x", Reason: long})
		}
		if err := st.RecordDecisions(ctx, ds...); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t, authConfig(), energyBackend{fleetBackend: newFleetBackend(1, true), st: st})
	done := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("file", "decisions.csv")
		s.export(w, r, exportMaxRows, 200*time.Millisecond)
		done <- struct{}{}
	}))
	defer ts.Close()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /?from=2026-06-01&to=2026-06-01 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the export still writes to a client that reads nothing")
	}
}
