package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/hashgate/hashgate/sim/powersite"
)

// cmdSimulate runs the power policy on the simulated site, in simulated time, beside the
// baseline controller, and prints what a site depends on per scenario (BENCHMARKS.md keeps
// the table).
func cmdSimulate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(out)
	only := fs.String("scenario", "", "run only this named scenario")
	seeds := fs.Int("seeds", 0, "also run this many seeded random sites (random_1 ...)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var scs []powersite.Scenario
	for _, sc := range powersite.Scenarios() {
		if *list {
			fmt.Fprintf(out, "%-22s %s\n", sc.Name, sc.Description)
			continue
		}
		if *only == "" || sc.Name == *only {
			scs = append(scs, sc)
		}
	}
	if *list {
		return nil
	}
	for s := 1; s <= *seeds; s++ {
		scs = append(scs, powersite.Random(uint64(s)))
	}
	if len(scs) == 0 {
		return fmt.Errorf("simulate: no scenario %q (hashgate simulate -list)", *only)
	}
	rs, err := powersite.Compare(scs)
	if err != nil {
		return err
	}
	powersite.WriteTable(out, rs)
	return nil
}
