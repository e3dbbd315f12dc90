// Command tracegen writes the meter traces under testdata/policy. The traces are hashgate's
// own synthetic data: a seeded generator, so running it again reproduces them byte for byte
// (a test checks that).
//
//	go run ./policy/internal/tracegen -out testdata/policy
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashgate/hashgate/policy/internal/trace"
)

func main() {
	out := flag.String("out", "testdata/policy", "directory to write *.jsonl into")
	flag.Parse()
	for _, t := range trace.Generate() {
		path := filepath.Join(*out, t.Meta.Name+".jsonl")
		f, err := os.Create(path)
		if err == nil {
			err = trace.Encode(f, t)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tracegen:", err)
			os.Exit(1)
		}
	}
}
