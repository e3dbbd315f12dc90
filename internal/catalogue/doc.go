// Package catalogue keeps docs/hostile-inputs.md honest: its test parses the catalogue's tables
// (one per section, rows numbered on through them) and fails when a row names a test that does
// not exist in its package, has no input or expected answer, is misnumbered, or when the
// catalogue shrinks below the size the project promises. The named tests themselves run with
// the rest of `go test ./...`.
package catalogue
