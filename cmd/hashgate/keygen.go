package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/hashgate/hashgate/stratum/noise"
)

// cmdKeygen writes an authority key pair and a server static key with a certificate signed by
// the authority, and prints the authority public key that miners and pools paste into their
// stratum2+tcp URLs.
func cmdKeygen(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	dir := fs.String("dir", ".", "directory for the key files")
	validFor := fs.Duration("valid-for", 365*24*time.Hour, "certificate validity from now")
	authorityFile := fs.String("authority", "", "reuse this authority key file instead of making a new one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *validFor <= 0 {
		return fmt.Errorf("-valid-for must be positive")
	}
	var auth *noise.AuthorityKey
	if *authorityFile != "" {
		f, err := noise.ReadKeyFile(*authorityFile)
		if err != nil {
			return err
		}
		if auth, err = f.Authority(); err != nil {
			return err
		}
	} else {
		var err error
		if auth, err = noise.GenerateAuthority(nil); err != nil {
			return err
		}
		p := filepath.Join(*dir, "hashgate-authority.key")
		if err := noise.WriteKeyFile(p, noise.NewAuthorityKeyFile(auth)); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (keep it offline: it signs server certificates)\n", p)
	}
	static, err := noise.NewKeyPair(nil)
	if err != nil {
		return err
	}
	from := time.Now().Add(-time.Minute)
	cert, err := noise.IssueServerCertificate(auth, static, from, from.Add(*validFor), nil)
	if err != nil {
		return err
	}
	p := filepath.Join(*dir, "hashgate-sv2.key")
	if err := noise.WriteKeyFile(p, noise.NewServerKeyFile(static, cert, auth.PublicKey())); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (the sv2 listener's key_file), valid until %s\n", p, cert.NotValidAfterTime().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "authority public key: %s\n", noise.EncodeAuthorityKey(auth.PublicKey()))
	fmt.Fprintf(out, "miners connect to:    stratum2+tcp://<this host>:34255/%s\n", noise.EncodeAuthorityKey(auth.PublicKey()))
	return nil
}
