// Package tomltime holds the one duration type hashgate's config files use: a time.Duration
// written as Go duration text ("500ms", "30s", "2m") in TOML and JSON.
package tomltime

import "time"

// Duration is a time.Duration that reads and writes Go duration text.
type Duration time.Duration

// UnmarshalText parses Go duration text such as "30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the Go duration text.
func (d Duration) String() string { return time.Duration(d).String() }
