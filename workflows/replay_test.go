package workflows

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/internal/contract"
)

// readFixtures reads every committed history in testdata/.
func readFixtures(t *testing.T) []recordedFixture {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	out := make([]recordedFixture, 0, len(files))
	for _, f := range files {
		fx, err := readFixture(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fx)
	}
	return out
}

// TestReplayRecordedHistories replays every committed history in testdata/
// against the current workflow code: a change to a workflow's command
// sequence that is not behind workflow.GetVersion fails here.
func TestReplayRecordedHistories(t *testing.T) {
	for _, f := range readFixtures(t) {
		t.Run(filepath.Base(f.file), func(t *testing.T) {
			if err := replayAsRecorded(Register, f); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
}

// TestReplayCatchesChangedWorkflow proves the replay check bites: a
// workflow under the same name that reorders its deliveries fails.
func TestReplayCatchesChangedWorkflow(t *testing.T) {
	changed := func(ctx workflow.Context, in AlertInput) (*AlertState, error) {
		// Skips resolving targets and publishes nothing.
		return &AlertState{}, nil
	}
	register := func(r worker.WorkflowRegistry) {
		r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: contract.LegacyAlertWorkflow})
	}
	f, err := readFixture("testdata/alert_v1_fanout_resolve.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := replayAsRecorded(register, f); err == nil {
		t.Fatal("replay of a changed workflow succeeded; the check would miss nondeterminism")
	}
}

// versionedFiles names the workflow type whose code each file with a
// workflow.GetVersion call belongs to. A GetVersion in a file not listed
// here fails TestReplayCoversCurrentVersions, so a new change ID cannot
// ship without a fixture recorded at it.
var versionedFiles = map[string]string{
	"alert_legacy.go": contract.LegacyAlertWorkflow,
	"deadletter.go":   DeadLetterWorkflowName,
}

// currentVersions finds every workflow.GetVersion call in the non-test
// sources of dirs and returns, per workflow type (versionedFiles), the
// latest version of each change ID it uses.
func currentVersions(dirs ...string) (map[string]map[string]int, error) {
	fset := token.NewFileSet()
	consts := map[string]string{} // string constants, by identifier
	type call struct {
		file, ident string
		max         int
	}
	var calls []call
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", path, err)
			}
			var inspectErr error
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if i < len(n.Values) {
							if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "GetVersion" || len(n.Args) != 4 {
						return true
					}
					id, okID := n.Args[1].(*ast.Ident)
					lit, okMax := n.Args[3].(*ast.BasicLit)
					if !okID || !okMax {
						inspectErr = fmt.Errorf("%s: GetVersion with a change ID or version that is not a constant", fset.Position(n.Pos()))
						return false
					}
					v, err := strconv.Atoi(lit.Value)
					if err != nil {
						inspectErr = fmt.Errorf("%s: version %s: %w", fset.Position(n.Pos()), lit.Value, err)
						return false
					}
					calls = append(calls, call{file: filepath.Base(path), ident: id.Name, max: v})
				}
				return true
			})
			if inspectErr != nil {
				return nil, inspectErr
			}
		}
	}
	out := map[string]map[string]int{}
	for _, c := range calls {
		typ, ok := versionedFiles[c.file]
		if !ok {
			return nil, fmt.Errorf("%s calls GetVersion(%s) but versionedFiles does not say which workflow type it belongs to", c.file, c.ident)
		}
		changeID, ok := consts[c.ident]
		if !ok {
			return nil, fmt.Errorf("%s: change ID %s is not a string constant of the package", c.file, c.ident)
		}
		if out[typ] == nil {
			out[typ] = map[string]int{}
		}
		out[typ][changeID] = max(out[typ][changeID], c.max)
	}
	return out, nil
}

// coverageGaps returns what the fixtures miss: a registered type without
// any fixture, or a versioned type with no fixture recorded at all of its
// current versions together (the code path new runs take).
func coverageGaps(types []string, versions map[string]map[string]int, fixtures []recordedFixture) []string {
	var gaps []string
	for _, typ := range types {
		var ofType []recordedFixture
		for _, f := range fixtures {
			if f.workflowType == typ {
				ofType = append(ofType, f)
			}
		}
		if len(ofType) == 0 {
			gaps = append(gaps, fmt.Sprintf("workflow type %s has no recorded history", typ))
			continue
		}
		want := versions[typ]
		if len(want) == 0 {
			continue
		}
		current := slices.ContainsFunc(ofType, func(f recordedFixture) bool {
			for id, v := range want {
				if f.versions[id] != v {
					return false
				}
			}
			return true
		})
		if !current {
			gaps = append(gaps, fmt.Sprintf("workflow type %s has no recorded history at its current versions %v", typ, want))
		}
	}
	return gaps
}

// TestReplayCoversEveryRegisteredWorkflow: every type Register registers
// (read from Register itself, not a copy of its list) has a committed
// history, and the versioned ones one at their latest versions; otherwise
// the replay above proves nothing about the code new runs execute.
func TestReplayCoversEveryRegisteredWorkflow(t *testing.T) {
	types := registeredTypes(Register)
	if len(types) < 6 {
		t.Fatalf("registered types = %v; the registry recorder misses some", types)
	}
	versions, err := currentVersions(".", "alertflow")
	if err != nil {
		t.Fatal(err)
	}
	for _, gap := range coverageGaps(types, versions, readFixtures(t)) {
		t.Errorf("%s: record one (docs/workflows.md, \"Recorded histories\")", gap)
	}
}

// TestCoverageGaps proves the coverage check bites: a type without a
// fixture, and one whose fixtures predate its latest version.
func TestCoverageGaps(t *testing.T) {
	fx := func(typ string, versions map[string]int) recordedFixture {
		return recordedFixture{file: typ + ".json", workflowType: typ, versions: versions}
	}
	versions := map[string]map[string]int{"V": {"a": 1, "b": 2}}
	tests := []struct {
		name     string
		fixtures []recordedFixture
		want     []string
	}{
		{"all covered", []recordedFixture{fx("P", nil), fx("V", map[string]int{"a": 1, "b": 2})}, nil},
		{"type without fixture", []recordedFixture{fx("V", map[string]int{"a": 1, "b": 2})}, []string{"P has no recorded history"}},
		{"only older versions", []recordedFixture{fx("P", nil), fx("V", map[string]int{"a": 1, "b": 1}), fx("V", map[string]int{"b": 2})},
			[]string{"V has no recorded history at its current versions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := coverageGaps([]string{"P", "V"}, versions, tt.fixtures)
			if len(got) != len(tt.want) {
				t.Fatalf("gaps = %q, want %q", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("gap %d = %q, want it to mention %q", i, got[i], w)
				}
			}
		})
	}
}

// TestCurrentVersionsReadsTheSource guards the source scan: it finds the
// change IDs the docs list, at their versions.
func TestCurrentVersionsReadsTheSource(t *testing.T) {
	got, err := currentVersions(".", "alertflow")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		contract.LegacyAlertWorkflow: {versionDeadLetters: 1, versionRouting: 1, versionDeferrals: 1, versionLocalPrepare: 1, versionForwardResend: 1},
		DeadLetterWorkflowName:       {versionBounded: 1, versionHardened: 1},
	}
	for typ, ids := range want {
		for id, v := range ids {
			if got[typ][id] < v {
				t.Errorf("%s: change ID %s found at version %d, want at least %d (scan: %v)", typ, id, got[typ][id], v, got)
			}
		}
	}
}
