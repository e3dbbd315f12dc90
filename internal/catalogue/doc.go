// Package catalogue keeps docs/hostile-inputs.md honest: its test parses the table of hostile
// inputs and faults and fails when a row names a test that does not exist in its package, has
// no expected answer, or when the table shrinks below the size the project promises. The named
// tests themselves run with the rest of `go test ./...`.
package catalogue
