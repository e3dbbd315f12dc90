package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(roleEnv) == "proxy" {
		os.Exit(runProxyRole(os.Stdin, os.Stdout))
	}
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	cfg := defaultBenchConfig()
	fs := flag.NewFlagSet("hashgate-bench", flag.ContinueOnError)
	role := fs.String("role", "", `"proxy" runs the proxy child (configuration on stdin); normally set by the bench itself`)
	fs.IntVar(&cfg.Miners, "miners", cfg.Miners, "miner connections")
	fs.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "what the miners speak: sv1, sv2 (Noise to the proxy's V2 port) or mixed (half each)")
	fs.BoolVar(&cfg.V2Standard, "sv2-standard", cfg.V2Standard, "SV2 miners open standard channels (header-only) instead of extended ones")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured load window")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured load before the window")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "target shares/s for the whole fleet (0: closed loop)")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", cfg.MaxInflight, "unanswered submits allowed per miner")
	fs.IntVar(&cfg.Pacers, "pacers", cfg.Pacers, "fleet goroutines writing submits")
	fs.Float64Var(&cfg.MinerDifficulty, "miner-difficulty", cfg.MinerDifficulty, "difficulty the proxy gives miners (pinned)")
	fs.Float64Var(&cfg.PoolDifficulty, "pool-difficulty", cfg.PoolDifficulty, "simulated pool difficulty (0: from -forward-ratio)")
	fs.Float64Var(&cfg.ForwardRatio, "forward-ratio", cfg.ForwardRatio, "fraction of shares meeting the pool target, when -pool-difficulty is 0")
	fs.Float64Var(&cfg.SubmitRate, "proxy-submit-rate", cfg.SubmitRate, "proxy per-miner submit limit (0: ample for the run)")
	fs.StringVar(&cfg.Proxy, "proxy", cfg.Proxy, "external proxy host:port (it must use the pool at -pool-listen)")
	fs.BoolVar(&cfg.InProc, "inproc", cfg.InProc, "run the proxy in this process (no per-miner memory figure)")
	fs.StringVar(&cfg.PoolListen, "pool-listen", cfg.PoolListen, "simulated pool listen address")
	fs.IntVar(&cfg.IdleBlocks, "blocks", cfg.IdleBlocks, "new blocks timed before the load")
	fs.IntVar(&cfg.LoadBlocks, "load-blocks", cfg.LoadBlocks, "new blocks timed during the load window")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "bound on connecting the fleet")
	fs.DurationVar(&cfg.BlockTimeout, "block-timeout", cfg.BlockTimeout, "bound on one block reaching every miner")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", cfg.DialConcurrency, "connects in flight")
	fs.IntVar(&cfg.MinersPerAddress, "miners-per-address", cfg.MinersPerAddress, "most miners dialing one proxy address (ephemeral ports); more are split over listeners on 127.0.0.2, ...")
	fs.StringVar(&cfg.WorkerNames, "worker-names", cfg.WorkerNames, "the proxy's worker_names: pool_user_only, or passthrough (every worker authorized at the simulated pool)")
	fs.BoolVar(&cfg.Storm, "storm", cfg.Storm, "after the load window, drop every miner at once and time as many reconnecting at once")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", cfg.CPUProfile, "write the proxy child's CPU profile of the load window here")
	fs.StringVar(&cfg.HeapProfile, "memprofile", cfg.HeapProfile, "write the proxy child's heap profile (after a GC) with the fleet connected and idle here")
	fs.StringVar(&cfg.GoroutineProfile, "goroutineprofile", cfg.GoroutineProfile, "write the proxy child's goroutines (text) with the fleet connected and idle here")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *role == "proxy" {
		return runProxyRole(os.Stdin, os.Stdout)
	} else if *role != "" {
		fmt.Fprintf(os.Stderr, "hashgate-bench: unknown -role %q\n", *role)
		return 2
	}
	logf := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "hashgate-bench: "+format+"\n", args...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hashgate-bench:", err)
		if rep == nil {
			return 1
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if err != nil {
		return 1
	}
	return 0
}
