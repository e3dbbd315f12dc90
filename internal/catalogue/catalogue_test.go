package catalogue

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// minRows is how many hostile inputs and faults the catalogue must list.
const minRows = 60

// header is the catalogue table's header row, cells trimmed.
var header = []string{"#", "Input or fault", "Expected answer", "Test"}

// testRef is a Test cell: `package/path.TestName` (or FuzzName), path relative to the module.
var testRef = regexp.MustCompile("^`?([a-z0-9_][a-z0-9_./-]*)\\.((?:Test|Fuzz)[A-Za-z0-9_]*)`?$")

// TestHostileInputCatalogue checks docs/hostile-inputs.md against the tests in the tree.
func TestHostileInputCatalogue(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "hostile-inputs.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows, errs := check(doc, root)
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("%d rows", rows)
}

// TestCheckerFindsEachFault feeds the checker broken catalogues: each must be caught.
func TestCheckerFindsEachFault(t *testing.T) {
	root := filepath.Join("..", "..")
	row := func(n int, input, answer, test string) string {
		return fmt.Sprintf("| %d | %s | %s | %s |\n", n, input, answer, test)
	}
	table := func(rows ...string) []byte {
		return []byte("intro\n\n| # | Input or fault | Expected answer | Test |\n|---|---|---|---|\n" + strings.Join(rows, ""))
	}
	// sections splits rows into two sections after the first at, each with its own table.
	sections := func(at int, rows ...string) []byte {
		return append(table(rows[:at]...), table(rows[at:]...)...)
	}
	good := func(n int) string {
		return row(n, "a line that is not JSON", "error -32700", "`stratum/sv1.TestDecodeErrors`")
	}
	full := make([]string, minRows)
	for i := range full {
		full[i] = good(i + 1)
	}
	if n, errs := check(table(full...), root); n != minRows || len(errs) != 0 {
		t.Fatalf("a good table: %d rows, %v", n, errs)
	}
	if n, errs := check(sections(minRows/2, full...), root); n != minRows || len(errs) != 0 {
		t.Fatalf("good sections: %d rows, %v", n, errs)
	}
	renumbered := append(full[:minRows/2:minRows/2], good(1))
	for i := minRows/2 + 1; i < minRows; i++ {
		renumbered = append(renumbered, good(i-minRows/2+1))
	}
	// Another table (not the catalogue's header) is not read as rows.
	other := append([]byte("| a | b |\n|---|---|\n| x | y |\n\n"), table(full...)...)
	if n, errs := check(other, root); n != minRows || len(errs) != 0 {
		t.Fatalf("a table with another header before the catalogue: %d rows, %v", n, errs)
	}
	for name, tc := range map[string]struct {
		doc  []byte
		want string
	}{
		"missing test":                    {table(append(full[:minRows-1:minRows-1], row(minRows, "x", "y", "`stratum/sv1.TestNoSuchThing`"))...), "TestNoSuchThing not found"},
		"missing package":                 {table(append(full[:minRows-1:minRows-1], row(minRows, "x", "y", "`nowhere/pkg.TestDecodeErrors`"))...), "nowhere/pkg"},
		"no answer":                       {table(append(full[:minRows-1:minRows-1], row(minRows, "x", " ", "`stratum/sv1.TestDecodeErrors`"))...), "no expected answer"},
		"no input":                        {table(append(full[:minRows-1:minRows-1], row(minRows, "", "y", "`stratum/sv1.TestDecodeErrors`"))...), "no input"},
		"not a test name":                 {table(append(full[:minRows-1:minRows-1], row(minRows, "x", "y", "the proxy tests"))...), "not package/path.TestName"},
		"too few rows":                    {table(full[:minRows-1]...), fmt.Sprintf("%d rows", minRows-1)},
		"numbering":                       {table(append(full[:minRows-1:minRows-1], good(minRows+1))...), "numbered"},
		"missing cell":                    {table(append(full[:minRows-1:minRows-1], "| 60 | x | `stratum/sv1.TestDecodeErrors` |\n")...), "3 cells, want 4"},
		"no table":                        {[]byte("# Hostile inputs\n\nnothing here\n"), "no table"},
		"numbering restarts in a section": {sections(minRows/2, renumbered...), "numbered \"1\", want 31"},
		"missing test in a later section": {sections(minRows/2, append(full[:minRows-1:minRows-1], row(minRows, "x", "y", "`stratum/sv1.TestNoSuchThing`"))...), "TestNoSuchThing not found"},
		"no answer in a later section":    {sections(minRows/2, append(full[:minRows-1:minRows-1], row(minRows, "x", "", "`stratum/sv1.TestDecodeErrors`"))...), "no expected answer"},
	} {
		_, errs := check(tc.doc, root)
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), tc.want)
		}
		if !found {
			t.Errorf("%s: want an error containing %q, got %v", name, tc.want, errs)
		}
	}
}

// check parses the catalogue in doc and verifies every row against the test files under root.
// The catalogue is one table per section, each with the same header; rows are numbered on
// through the sections, so a row's number stays a reference. It returns the number of rows
// and every problem found.
func check(doc []byte, root string) (int, []error) {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("docs/hostile-inputs.md:%d: "+format, append([]any{line}, args...)...))
	}
	tests := map[string]map[string]bool{} // package path -> test functions, parsed once
	rows, tables, inTable := 0, 0, false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			inTable = false // a table ends at its first non-row line; the next section has its own
			continue
		}
		cells := splitRow(line)
		if !inTable {
			if equal(cells, header) {
				inTable = true
				tables++
			}
			continue
		}
		if isSeparator(cells) {
			continue
		}
		rows++
		if len(cells) != len(header) {
			fail(n, "%d cells, want 4 (#, input, answer, test)", len(cells))
			continue
		}
		if num, err := strconv.Atoi(cells[0]); err != nil || num != rows {
			fail(n, "row numbered %q, want %d", cells[0], rows)
		}
		if cells[1] == "" {
			fail(n, "no input or fault")
		}
		if cells[2] == "" {
			fail(n, "no expected answer")
		}
		m := testRef.FindStringSubmatch(cells[3])
		if m == nil {
			fail(n, "test %q is not package/path.TestName", cells[3])
			continue
		}
		pkg, name := m[1], m[2]
		funcs, ok := tests[pkg]
		if !ok {
			var err error
			if funcs, err = testFuncs(filepath.Join(root, filepath.FromSlash(pkg))); err != nil {
				fail(n, "package %s: %v", pkg, err)
			}
			tests[pkg] = funcs
		}
		if funcs != nil && !funcs[name] {
			fail(n, "%s not found in %s's test files (a func %s(t *testing.T) or (f *testing.F))", name, pkg, name)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if tables == 0 {
		errs = append(errs, fmt.Errorf("docs/hostile-inputs.md: no table with the header %q", strings.Join(header, " | ")))
	}
	if rows < minRows {
		errs = append(errs, fmt.Errorf("docs/hostile-inputs.md: %d rows, want at least %d", rows, minRows))
	}
	return rows, errs
}

// testFuncs returns the test and fuzz functions declared in dir's _test.go files: top-level
// funcs named Test… taking *testing.T or Fuzz… taking *testing.F.
func testFuncs(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no test files in %s", dir)
	}
	funcs := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || fd.Type.Params.NumFields() != 1 {
				continue
			}
			name, arg := fd.Name.Name, paramType(fd.Type.Params.List[0].Type)
			if strings.HasPrefix(name, "Test") && arg == "testing.T" || strings.HasPrefix(name, "Fuzz") && arg == "testing.F" {
				funcs[name] = true
			}
		}
	}
	return funcs, nil
}

// paramType renders *pkg.Name as "pkg.Name" and anything else as "".
func paramType(e ast.Expr) string {
	star, ok := e.(*ast.StarExpr)
	if !ok {
		return ""
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return id.Name + "." + sel.Sel.Name
}

// splitRow splits a Markdown table row into trimmed cells; `\|` is a literal bar in a cell.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":-") != "" || c == "" {
			return false
		}
	}
	return true
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
