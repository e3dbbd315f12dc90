package main

import (
	"fmt"
	"time"

	"github.com/hashgate/hashgate/stratum/noise"
)

// v2Validity is how long the run's server certificate is valid, from an hour before it was
// made (so clock skew between parties never matters).
const v2Validity = 48 * time.Hour

// newV2Keys makes a run's SV2 identity in memory: a fresh authority key (whose public half
// the fleet pins) and the proxy's static key with the certificate that authority signed, as
// a server key file. The key file travels to the proxy child over its stdin pipe, so the
// secret never touches the disk.
func newV2Keys(now time.Time) (noise.AuthorityPublicKey, *noise.KeyFile, error) {
	auth, err := noise.GenerateAuthority(nil)
	if err != nil {
		return noise.AuthorityPublicKey{}, nil, fmt.Errorf("authority key: %w", err)
	}
	static, err := noise.NewKeyPair(nil)
	if err != nil {
		return noise.AuthorityPublicKey{}, nil, fmt.Errorf("server key: %w", err)
	}
	from := now.Add(-time.Hour)
	cert, err := noise.IssueServerCertificate(auth, static, from, from.Add(v2Validity), nil)
	if err != nil {
		return noise.AuthorityPublicKey{}, nil, fmt.Errorf("server certificate: %w", err)
	}
	return auth.PublicKey(), noise.NewServerKeyFile(static, cert, auth.PublicKey()), nil
}
