package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// unknownKeys describes keys nobody reads. A misspelt table is named once, not with every key
// under it (the operator mistyped one word), and each name gets the closest known key at its
// level, so `[consol]` says `did you mean "console"?` instead of listing the table's keys.
func unknownKeys(und []toml.Key) error {
	seen := make(map[string]bool, len(und))
	for _, k := range und {
		seen[k.String()] = true
	}
	var msgs []string
	for _, k := range und {
		if parentUnknown(k, seen) {
			continue
		}
		name := k.String()
		if near := closestKey(k); near != "" {
			msgs = append(msgs, fmt.Sprintf("unknown key %q (did you mean %q?)", name, near))
		} else {
			msgs = append(msgs, fmt.Sprintf("unknown key %q (check its spelling and section)", name))
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// parentUnknown reports whether a table holding k is itself unknown.
func parentUnknown(k toml.Key, unknown map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if unknown[k[:i].String()] {
			return true
		}
	}
	return false
}

// closestKey returns the known key nearest to k's last part in the table that holds it, or ""
// when nothing is close enough to be a typo.
func closestKey(k toml.Key) string {
	t := reflect.TypeOf(File{})
	for _, part := range k[:len(k)-1] {
		t = tableType(t, part)
		if t == nil {
			return ""
		}
	}
	last := k[len(k)-1]
	// A typo is a letter or two; "batch_interval" is not a misspelt "flush_interval".
	limit := 1 + len(last)/6
	best, bestDist := "", limit+1
	for _, name := range tableKeys(t) {
		if d := editDistance(last, name); d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return strings.Join(append(slices.Clone([]string(k[:len(k)-1])), best), ".")
}

// tableType is the struct type decoded from key in table t, or nil.
func tableType(t reflect.Type, key string) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tomlName(f) != key {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct {
			return nil
		}
		return ft
	}
	return nil
}

// tableKeys are the keys table t knows, embedded structs included.
func tableKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("toml") == "" && f.Type.Kind() == reflect.Struct {
			keys = append(keys, tableKeys(f.Type)...)
			continue
		}
		if name := tomlName(f); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// inSection names a section's error once: console's errors already start with "console.",
// the store's with "store: invalid config: " and the key.
func inSection(section string, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, section+"."):
		return err
	case strings.HasPrefix(msg, section+": invalid config: "):
		rest := strings.TrimPrefix(msg, section+": invalid config: ")
		if key, reason, ok := strings.Cut(rest, " "); ok && !strings.ContainsAny(key, ":,") {
			return &sectionError{msg: section + "." + key + ": " + reason, err: err}
		}
		return &sectionError{msg: section + ": " + rest, err: err}
	case strings.HasPrefix(msg, section+": "):
		return &sectionError{msg: msg, err: err}
	}
	return &sectionError{msg: section + "." + msg, err: err}
}

// sectionError keeps the subsystem's error for errors.Is while saying it with the key.
type sectionError struct {
	msg string
	err error
}

func (e *sectionError) Error() string { return e.msg }
func (e *sectionError) Unwrap() error { return e.err }
