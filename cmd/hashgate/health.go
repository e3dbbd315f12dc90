package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/config"
)

// maxHealthBody caps what the health command reads of an answer.
const maxHealthBody = 64 << 10

// errNotHealthy makes the health command exit 1 after it has printed why.
var errNotHealthy = errors.New("not healthy")

// cmdHealth asks a running hashgate's console whether it is ready (/readyz) or, with -live,
// alive (/healthz), prints the answer and fails unless it is 200. It is the container health
// check: the image has no shell and no curl.
func cmdHealth(args []string, out io.Writer) error {
	o, err := parseHealthFlags(args)
	if err != nil {
		return err
	}
	base, local := o.url, false
	if base == "" {
		f, err := config.Load(o.config)
		if err != nil {
			return fmt.Errorf("%s: %w", o.config, err)
		}
		if base, err = consoleURL(f.Console.Address, f.Console.TLS()); err != nil {
			return fmt.Errorf("%s: console.address: %w", o.config, err)
		}
		local = true
	}
	endpoint := strings.TrimSuffix(base, "/") + "/readyz"
	if o.live {
		endpoint = strings.TrimSuffix(base, "/") + "/healthz"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // one request, then the process ends
	if local {
		// The console's own certificate names its public host, not the loopback address
		// asked here; the probe sends no credentials and trusts nothing but the status.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c := &http.Client{Transport: tr, Timeout: o.timeout}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxHealthBody))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d %s\n", endpoint, res.StatusCode, summarize(body))
	if res.StatusCode != http.StatusOK {
		return errNotHealthy
	}
	return nil
}

// healthOpts are the health command's flags.
type healthOpts struct {
	config  string
	url     string
	live    bool
	timeout time.Duration
}

func parseHealthFlags(args []string) (healthOpts, error) {
	var o healthOpts
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.StringVar(&o.config, "c", "hashgate.toml", "config file whose [console] address to ask")
	fs.StringVar(&o.url, "url", "", "console base URL (instead of -c), e.g. http://127.0.0.1:8080")
	fs.BoolVar(&o.live, "live", false, "check liveness (/healthz) instead of readiness (/readyz)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("health: unexpected argument %q", fs.Arg(0))
	}
	if o.timeout <= 0 {
		return o, errors.New("health: -timeout must be positive")
	}
	return o, nil
}

// consoleURL is where a process on this host reaches a console listening on addr: a
// wildcard address is asked on loopback.
func consoleURL(addr string, tlsOn bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if a, err := netip.ParseAddr(host); host == "" || err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
		if err == nil && a.Is6() {
			host = "::1"
		}
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// summarize turns a /readyz or /healthz body into one line: the status and each check.
func summarize(body []byte) string {
	var r struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
		Checks []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &r) != nil {
		return strings.TrimSpace(string(body))
	}
	parts := []string{r.Status}
	if r.Detail != "" {
		parts = append(parts, r.Detail)
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	for _, c := range r.Checks {
		verdict := "ok"
		if !c.OK {
			verdict = "FAIL"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", c.Name, verdict, c.Detail))
	}
	return strings.Join(parts, "; ")
}
