package workflows

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/internal/history"
)

// manifestName pins every committed history by its SHA-256. A fixture is
// the record of what older code did: rewriting one would let a
// nondeterministic change pass replay, so the manifest is append-only.
const manifestName = "MANIFEST.sha256"

const manifestHelp = "a recorded history never changes: record a new fixture under a new name " +
	"(docs/workflows.md, \"Recorded histories\") and append its line `sha256sum <file>` to " +
	"workflows/testdata/" + manifestName + " (keep it sorted by file name); existing lines never change"

// manifestProblems compares the files of dir with its manifest and returns
// one message per mismatch (none when they agree).
func manifestProblems(dir fs.FS) ([]string, error) {
	raw, err := fs.ReadFile(dir, manifestName)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var problems []string
	want := map[string]string{}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != sha256.Size*2 || name == "" {
			problems = append(problems, fmt.Sprintf("%s line %d %q: want `<sha256>  <file>`", manifestName, n, sc.Text()))
			continue
		}
		if _, dup := want[name]; dup {
			problems = append(problems, fmt.Sprintf("%s lists %s twice", manifestName, name))
		}
		want[name] = sum
		names = append(names, name)
	}
	if !slices.IsSorted(names) {
		problems = append(problems, manifestName+" is not sorted by file name")
	}
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return nil, fmt.Errorf("list fixtures: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == manifestName {
			continue
		}
		seen[e.Name()] = true
		data, err := fs.ReadFile(dir, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read fixture: %w", err)
		}
		got := sha256.Sum256(data)
		switch sum, ok := want[e.Name()]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is not in %s", e.Name(), manifestName))
		case sum != hex.EncodeToString(got[:]):
			problems = append(problems, fmt.Sprintf("%s was changed (sha256 %x, manifest %s)", e.Name(), got, sum))
		}
	}
	for _, name := range names {
		if !seen[name] {
			problems = append(problems, fmt.Sprintf("%s is in %s but missing", name, manifestName))
		}
	}
	return problems, nil
}

// TestFixtureManifest refuses any change to a committed history.
func TestFixtureManifest(t *testing.T) {
	problems, err := manifestProblems(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	if len(problems) > 0 {
		t.Log(manifestHelp)
	}
}

// TestManifestProblems proves the manifest check bites on each kind of
// drift, and stays quiet when fixtures and manifest agree.
func TestManifestProblems(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	line := func(name, content string) string { return sum(content) + "  " + name + "\n" }
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		want     []string // substrings, one per expected problem
	}{
		{"agree", line("a.json", "A") + line("b.json", "B"), map[string]string{"a.json": "A", "b.json": "B"}, nil},
		{"rewritten fixture", line("a.json", "A"), map[string]string{"a.json": "A, recorded again"}, []string{"a.json was changed"}},
		{"fixture deleted", line("a.json", "A") + line("b.json", "B"), map[string]string{"a.json": "A"}, []string{"b.json is in MANIFEST.sha256 but missing"}},
		{"new fixture not appended", line("a.json", "A"), map[string]string{"a.json": "A", "b.json": "B"}, []string{"b.json is not in MANIFEST.sha256"}},
		{"unsorted", line("b.json", "B") + line("a.json", "A"), map[string]string{"a.json": "A", "b.json": "B"}, []string{"not sorted"}},
		{"malformed line", "deadbeef a.json\n", map[string]string{}, []string{"want `<sha256>  <file>`"}},
		{"listed twice", line("a.json", "A") + line("a.json", "A"), map[string]string{"a.json": "A"}, []string{"lists a.json twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fstest.MapFS{manifestName: {Data: []byte(tt.manifest)}}
			for name, content := range tt.files {
				dir[name] = &fstest.MapFile{Data: []byte(content)}
			}
			got, err := manifestProblems(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to mention %q", i, got[i], w)
				}
			}
		})
	}
}

// typeRecorder collects the workflow type names a registration function
// registers, named as the SDK names them.
type typeRecorder struct{ names []string }

func (r *typeRecorder) RegisterWorkflow(w any) {
	r.RegisterWorkflowWithOptions(w, workflow.RegisterOptions{})
}

func (r *typeRecorder) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	name := o.Name
	if name == "" {
		// The SDK's default: the function's name without package or
		// method-value suffix.
		full := runtime.FuncForPC(reflect.ValueOf(w).Pointer()).Name()
		name = strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
	}
	r.names = append(r.names, name)
}

func (r *typeRecorder) RegisterDynamicWorkflow(any, workflow.DynamicRegisterOptions) {
	r.names = append(r.names, "(dynamic)")
}

// registeredTypes are the workflow types register registers.
func registeredTypes(register func(worker.WorkflowRegistry)) []string {
	var r typeRecorder
	register(&r)
	slices.Sort(r.names)
	return r.names
}

// recordedFixture is what a committed history shows of its run.
type recordedFixture struct {
	file, workflowType, workflowID string
	// versions maps each GetVersion change ID to the version recorded.
	versions map[string]int
	hist     *historypb.History
}

func readFixture(path string) (recordedFixture, error) {
	hist, err := history.ReadFile(path)
	if err != nil {
		return recordedFixture{}, err
	}
	start := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	if start == nil {
		return recordedFixture{}, fmt.Errorf("%s does not begin with a workflow start", path)
	}
	f := recordedFixture{file: path, workflowType: start.GetWorkflowType().GetName(),
		workflowID: start.GetWorkflowId(), versions: map[string]int{}, hist: hist}
	dc := converter.GetDefaultDataConverter()
	for _, ev := range hist.GetEvents() {
		m := ev.GetMarkerRecordedEventAttributes()
		if ev.GetEventType() != enumspb.EVENT_TYPE_MARKER_RECORDED || m.GetMarkerName() != "Version" {
			continue
		}
		var id string
		var v int
		if err := dc.FromPayloads(m.GetDetails()["change-id"], &id); err != nil {
			return recordedFixture{}, fmt.Errorf("%s: version marker %d: %w", path, ev.GetEventId(), err)
		}
		if err := dc.FromPayloads(m.GetDetails()["version"], &v); err != nil {
			return recordedFixture{}, fmt.Errorf("%s: version marker %d: %w", path, ev.GetEventId(), err)
		}
		f.versions[id] = v
	}
	return f, nil
}

// replayAsRecorded replays a committed history the way `worker replay`
// does (history.Replay: under the workflow ID it was recorded with, which
// the dead-letter workflow derives its archive workflows' IDs from).
func replayAsRecorded(register func(worker.WorkflowRegistry), f recordedFixture) error {
	return history.Replay(register, f.file)
}
