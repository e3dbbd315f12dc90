package powersite

import (
	"fmt"
	"io"
)

// Compare runs every scenario against hashgate's engine and the baseline.
func Compare(scs []Scenario) ([]Result, error) {
	var out []Result
	for i := range scs {
		sc := &scs[i]
		eng, err := NewEngine(sc.Config)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		out = append(out, Run(sc, eng), Run(sc, NewBaseline(sc.Config)))
	}
	return out, nil
}

// WriteTable writes results as a Markdown table.
func WriteTable(w io.Writer, rs []Result) {
	fmt.Fprintln(w, "| scenario | controller | s above limit beyond firmware delay | max over kW | spare energy used % | over-shed kW·s | fast toggles | restore s (bound) | stuck |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		restore := "—"
		if r.RestoreBoundS > 0 {
			restore = fmt.Sprintf("%.0f (%.0f)", r.RestoreS, r.RestoreBoundS)
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.2f | %.1f | %d | %s | %v |\n", r.Scenario, r.Controller, r.AboveLimitS,
			r.MaxOverKW, r.SpareUsedPct, r.OverShedKWs, r.FastToggles, restore, r.Stuck)
	}
}
