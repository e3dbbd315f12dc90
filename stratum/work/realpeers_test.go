package work_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// TestRealPeerShares replays the sessions captured between unmodified miners and pools on a
// btcd regtest chain (testdata/sv1/real-peers, see its README) and checks that every share
// the pool accepted validates under hashgate's share path: the same coinbase, merkle root,
// header and hash, meeting both the difficulty in force and the regtest network target (every
// such share was a block btcd accepted or, in file 01, rejected only for its BIP34 encoding).
func TestRealPeerShares(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "sv1", "real-peers", "*.jsonl"))
	if err != nil || len(files) < 7 {
		t.Fatalf("real-peer sessions missing: %v %v", files, err)
	}
	// Blocks the README says btcd accepted, per file.
	wantAtLeast := map[string]int{"04": 3, "05": 2, "06": 1, "07": 4, "01": 1}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			got := replay(t, f)
			if want := wantAtLeast[name[:2]]; got < want {
				t.Fatalf("%d accepted shares validated, want at least %d", got, want)
			}
		})
	}
}

type record struct {
	Conn int    `json:"conn"`
	Dir  string `json:"dir"`
	Line string `json:"line"`
}

type connState struct {
	en1      []byte
	n2       int
	mask     uint32
	diff     float64
	nextDiff float64
	jobs     map[string]*jobAt
	submits  map[string]*sv1.Submit // by request id
	subID    string
	cfgID    string
}

type jobAt struct {
	job  *work.Job
	diff float64
}

func replay(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conns := map[int]*connState{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	validated := 0
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Line == "" {
			continue
		}
		c := conns[r.Conn]
		if c == nil {
			c = &connState{jobs: map[string]*jobAt{}, submits: map[string]*sv1.Submit{}, diff: 1, nextDiff: 1}
			conns[r.Conn] = c
		}
		m, err := sv1.Decode([]byte(r.Line))
		if err != nil {
			continue // file 03's TLS probe
		}
		switch {
		case r.Dir == "miner->pool" && m.Method == sv1.MethodSubscribe:
			c.subID = string(m.ID)
		case r.Dir == "miner->pool" && m.Method == sv1.MethodConfigure:
			c.cfgID = string(m.ID)
		case r.Dir == "miner->pool" && m.Method == sv1.MethodSubmit:
			var s sv1.Submit
			if err := m.UnmarshalParams(&s); err != nil {
				t.Fatalf("submit: %v", err)
			}
			c.submits[string(m.ID)] = &s
		case r.Dir == "pool->miner" && m.IsResponse() && string(m.ID) == c.subID && c.en1 == nil:
			var sr sv1.SubscribeResult
			if err := json.Unmarshal(m.Result, &sr); err != nil {
				t.Fatalf("subscribe result: %v", err)
			}
			c.en1, c.n2 = sr.Extranonce1, sr.Extranonce2Size
		case r.Dir == "pool->miner" && m.IsResponse() && string(m.ID) == c.cfgID:
			var cr sv1.ConfigureResult
			if json.Unmarshal(m.Result, &cr) == nil && cr.HasVersionRollingMask {
				c.mask = cr.VersionRollingMask
			}
		case r.Dir == "pool->miner" && m.Method == sv1.MethodSetDifficulty:
			var sd sv1.SetDifficulty
			if err := m.UnmarshalParams(&sd); err != nil {
				t.Fatal(err)
			}
			c.nextDiff, _ = strconv.ParseFloat(string(sd.Difficulty), 64)
		case r.Dir == "pool->miner" && m.Method == sv1.MethodNotify:
			var n sv1.Notify
			if err := m.UnmarshalParams(&n); err != nil {
				t.Fatal(err)
			}
			c.diff = c.nextDiff // applies from the next job
			j := &work.Job{ID: n.JobID, PrevHash: work.PrevHashFromStratum(n.PrevHash), Coinb1: n.Coinb1, Coinb2: n.Coinb2,
				Extranonce1: c.en1, Extranonce2Size: c.n2, Branch: n.Branch, Version: n.Version, NBits: n.NBits, NTime: n.NTime}
			if err := j.Prepare(); err != nil {
				t.Fatal(err)
			}
			c.jobs[n.JobID] = &jobAt{job: j, diff: c.diff}
		case r.Dir == "pool->miner" && m.IsResponse() && c.submits[string(m.ID)] != nil:
			s := c.submits[string(m.ID)]
			delete(c.submits, string(m.ID))
			if !m.Accepted() {
				continue
			}
			ja := c.jobs[s.JobID]
			if ja == nil {
				t.Fatalf("accepted share for unknown job %q", s.JobID)
			}
			version := ja.job.Version
			if s.HasVersionBits {
				mask := c.mask
				if mask == 0 {
					mask = 0x1fffe000
				}
				if version, err = work.MergeVersion(ja.job.Version, s.VersionBits, mask); err != nil {
					t.Fatal(err)
				}
			}
			var h work.Hasher
			hash, _, err := h.Hash(ja.job, &work.Header{Extranonce2: s.Extranonce2, NTime: s.NTime, Nonce: s.Nonce, Version: version})
			if err != nil {
				t.Fatal(err)
			}
			tg := work.MustTarget(ja.diff)
			if !tg.Met(&hash) {
				t.Fatalf("accepted share (job %s nonce %08x) has difficulty %g, below %g", s.JobID, s.Nonce, work.HashDifficulty(&hash), ja.diff)
			}
			if !ja.job.NetworkTarget().Met(&hash) {
				t.Fatalf("accepted share does not meet the regtest network target")
			}
			validated++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return validated
}
