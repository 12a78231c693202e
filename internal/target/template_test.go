package target_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// TestValidateRefusesUnboundedTemplates: a template whose run time is not
// bounded by the alert's data is refused when the target is validated,
// with a message naming the target, the field and the construct. The
// first case is the template of issue 17 item 6, which burned a core.
func TestValidateRefusesUnboundedTemplates(t *testing.T) {
	const hostile = `{{range len .Summary}}{{range len $.Summary}}{{range len $.Summary}}{{end}}{{end}}{{end}}`
	for _, tc := range []struct {
		name, title, body string
		field, want       string
	}{
		{name: "range over len of a string (issue 17)", title: hostile, field: "template.title",
			want: `range over "len .Summary" is not allowed`},
		{name: "same in the body", body: hostile, field: "template.body", want: `range over "len .Summary"`},
		{name: "a variable holding a function result", body: `{{ $n := len .Summary }}{{ range $n }}x{{ end }}`,
			field: "template.body", want: `range over "$n"`},
		{name: "dot holding a function result", body: `{{ with len .Summary }}{{ range . }}x{{ end }}{{ end }}`,
			field: "template.body", want: `range over "."`},
		{name: "a variable later assigned a function result",
			body:  `{{ $x := .Labels }}{{ range .LabelNames }}{{ range $x }}x{{ end }}{{ $x = len $.Summary }}{{ end }}`,
			field: "template.body", want: `range over "$x"`},
		{name: "assigned inside a parenthesized pipeline",
			body:  `{{ $x := .Labels }}{{ if ($x = len .Summary) }}{{ end }}{{ range $x }}x{{ end }}`,
			field: "template.body", want: `range over "$x"`},
		{name: "a pipeline", body: `{{ range .Labels | len }}x{{ end }}`, field: "template.body", want: `range over ".Labels | len"`},
		{name: "a parenthesized call", body: `{{ range (len .Labels) }}x{{ end }}`, field: "template.body", want: "is not allowed"},
		{name: "a function building a list", body: `{{ range slice .LabelNames 0 }}x{{ end }}`, field: "template.body", want: "is not allowed"},
		{name: "an integer with variables", body: `{{ range $i := 1000000000 }}{{ $i }}{{ end }}`, field: "template.body", want: "range over a number"},
		{name: "define", body: `{{ define "loop" }}x{{ end }}body`, field: "template.body", want: `{{define "loop"}} is not allowed`},
		{name: "block", body: `{{ block "b" . }}x{{ end }}`, field: "template.body", want: `{{template "b"}} is not allowed`},
		{name: "recursion", body: `{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`, field: "template.body", want: `{{template "a"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h",
				Template: &target.TemplateSpec{Title: tc.title, Body: tc.body}}
			err := tg.Validate()
			var fe *target.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q", fe.Field, tc.field)
			}
			msg := err.Error()
			for _, part := range []string{`target "hook"`, "field " + tc.field + ": ", "is not allowed in target templates", tc.want} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not contain %q", msg, part)
				}
			}
		})
	}
}

// TestTemplatesOverDataAreValid: ranges over the alert's lists and maps,
// however they are reached, stay valid.
func TestTemplatesOverDataAreValid(t *testing.T) {
	for _, src := range []string{
		`{{ range .Labels }}{{ . }}{{ end }}`,
		`{{ range $k, $v := .Annotations }}{{ $k }}={{ $v }}{{ else }}none{{ end }}`,
		`{{ range $.LabelNames }}{{ . }}{{ end }}`,
		`{{ range (.Labels) }}{{ . }}{{ end }}`,
		`{{ $l := .Labels }}{{ range $l }}{{ . }}{{ end }}`,
		`{{ with .LabelNames }}{{ range . }}{{ . }}{{ end }}{{ end }}`,
		`{{ with $n := .LabelNames }}{{ range $n }}{{ . }}{{ end }}{{ end }}`,
		`{{ $x := .Labels }}{{ $x = .Annotations }}{{ range $x }}{{ . }}{{ end }}`,
		`{{ if gt (len .Labels) 3 }}{{ range .LabelNames }}{{ . }}{{ end }}{{ end }}`,
		`{{ $n := len .Summary }}{{ $n }}`,
		`{{ printf "%s: %d labels" .Name (len .Labels) | upper }}`,
	} {
		if _, err := target.ParseTemplate("body", src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestTemplateProblem: a template that does not parse and one that is
// refused read differently.
func TestTemplateProblem(t *testing.T) {
	_, err := target.ParseTemplate("title", "{{ .Labels")
	if got := target.TemplateProblem(err); !strings.HasPrefix(got, "does not parse: ") {
		t.Errorf("parse error: %q", got)
	}
	_, err = target.ParseTemplate("title", "{{ range 5 }}{{ end }}")
	if !errors.Is(err, target.ErrTemplateNotAllowed) {
		t.Fatalf("err = %v, want ErrTemplateNotAllowed", err)
	}
	if got := target.TemplateProblem(err); !strings.HasPrefix(got, "range over a number is not allowed") {
		t.Errorf("refusal: %q", got)
	}
}

// TestBudgetedFuncsCoverTemplateFuncs: rendering charges every function a
// template may call, so a function added to TemplateFuncs without a
// budgeted twin fails here. Every budgeted function (each called with its
// funcSamples arguments) charges at least a step and what it built, and
// fails once the budget is spent.
func TestBudgetedFuncsCoverTemplateFuncs(t *testing.T) {
	b := &countingBudget{}
	funcs := target.BudgetedFuncs(b)
	var missing []string
	for name := range target.TemplateFuncs {
		if _, ok := funcs[name]; !ok {
			missing = append(missing, name)
		}
	}
	for _, name := range []string{"printf", "print", "println", "html", "js", "urlquery"} {
		if _, ok := funcs[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("functions without a budget: %v", missing)
	}
	out, err := funcs["printf"].(func(string, ...any) (string, error))("%5s", "ab")
	if err != nil || out != "   ab" || b.built != 5 || b.steps != 1 {
		t.Errorf("printf = %q, %v; charged %d steps and %d bytes, want 1 and 5", out, err, b.steps, b.built)
	}
	b.refuse = errors.New("over budget")
	if _, err := funcs["upper"].(func(string) (string, error))("x"); !errors.Is(err, b.refuse) {
		t.Errorf("upper over budget: err = %v", err)
	}

	for name := range funcs {
		args, ok := funcSamples[name]
		if !ok {
			t.Errorf("%s: no sample arguments in funcSamples (have %v)", name, sampleNames())
			continue
		}
		b := &countingBudget{}
		f := target.BudgetedFuncs(b)[name]
		got, err := callFunc(t, f, args...)
		if err != nil {
			t.Errorf("%s%v: %v", name, args, err)
			continue
		}
		if b.steps < 1 {
			t.Errorf("%s%v charged no step", name, args)
		}
		if s, ok := got.(string); ok && b.built < len(s) {
			t.Errorf("%s%v = %q, charged %d bytes built", name, args, s, b.built)
		}
		b.refuse = errors.New("over budget")
		if _, err := callFunc(t, f, args...); !errors.Is(err, b.refuse) {
			t.Errorf("%s%v over budget: err = %v, want the budget's error", name, args, err)
		}
	}
	for name := range funcSamples {
		if _, ok := funcs[name]; !ok {
			t.Errorf("funcSamples has %s, which is not a template function", name)
		}
	}
}

// TestParsedTemplatesCountTheirWork: a parsed template charges a step per
// range iteration (and more per evaluation) even when it prints nothing.
func TestParsedTemplatesCountTheirWork(t *testing.T) {
	tmpl, err := target.ParseTemplate("body", `{{ range .Labels }}{{ if eq . "never" }}x{{ end }}{{ end }}`)
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBudget{}
	var out strings.Builder
	labels := map[string]string{}
	for i := range 100 {
		labels[strings.Repeat("k", i+1)] = "v"
	}
	if err := tmpl.Funcs(target.BudgetedFuncs(b)).Execute(&out, map[string]any{"Labels": labels}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || b.steps < 200 {
		t.Errorf("output %q, %d steps; want nothing printed and at least 2 steps per iteration", out.String(), b.steps)
	}
	// Executed without a budget, the step calls do nothing.
	plain, _ := target.ParseTemplate("body", `a{{ range .Labels }}{{ . }}{{ end }}b`)
	out.Reset()
	if err := plain.Execute(&out, map[string]any{"Labels": map[string]string{"k": "v"}}); err != nil || out.String() != "avb" {
		t.Errorf("plain execution = %q, %v", out.String(), err)
	}
}

type countingBudget struct {
	steps, built int
	refuse       error
}

func (b *countingBudget) Step(n int) error  { b.steps += n; return b.refuse }
func (b *countingBudget) Built(n int) error { b.built += n; return b.refuse }
