package publish_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// TestRenderWorkBounded: templates that are valid but would run for a long
// time over a large alert stop at a bound and fail the delivery as a
// config error: a nested range that prints nothing (bounded by steps, each
// iteration counts), one that repeats output (bounded by the 256 KiB
// output), and one that builds large strings it never prints (bounded by
// what functions build). The test asserts the error, not a duration.
func TestRenderWorkBounded(t *testing.T) {
	n := publishtest.Firing()
	n.Alert.Labels = map[string]string{}
	for i := range 256 {
		n.Alert.Labels[fmt.Sprintf("label_%03d", i)] = "v"
	}
	n.Alert.Annotations = map[string]string{"summary": strings.Repeat("s", 4000)}
	for _, tc := range []struct {
		name, body, want string
	}{
		{name: "nested range printing nothing",
			body: `{{ range .Labels }}{{ range $.Labels }}{{ range $.LabelNames }}{{ end }}{{ end }}{{ end }}`,
			want: fmt.Sprintf("exceeds %d steps", publish.MaxTemplateSteps)},
		{name: "nested range with an if that is never true",
			body: `{{ range .Labels }}{{ range $.Labels }}{{ range $.Labels }}{{ if eq . "never" }}x{{ end }}{{ end }}{{ end }}{{ end }}`,
			want: "steps"},
		{name: "a long condition evaluated per label pair",
			body: `{{ range .Labels }}{{ range $.Labels }}{{ if or` + strings.Repeat(` (eq $.Name "x")`, 200) + ` }}x{{ end }}{{ end }}{{ end }}`,
			want: "steps"},
		{name: "nested range repeating output",
			body: `{{ range .Labels }}{{ range $.Labels }}{{ $.Summary }}{{ end }}{{ end }}`,
			want: fmt.Sprintf("output exceeds %d bytes", publish.MaxTemplateOutput)},
		{name: "strings built and thrown away",
			body: `{{ range .Labels }}{{ $x := printf "%1000000s" "x" }}{{ end }}`,
			want: "functions built more than"},
		{name: "upper of a long summary per label pair",
			body: `{{ range .Labels }}{{ range $.Labels }}{{ if eq (upper $.Summary) "" }}x{{ end }}{{ end }}{{ end }}`,
			want: "functions built more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h",
				Template: &target.TemplateSpec{Body: tc.body}}
			if err := tg.Validate(); err != nil {
				t.Fatalf("the template must be valid: %v", err)
			}
			_, _, err := publish.Render(tg.Template, n)
			pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
			if !strings.Contains(pe.Msg, "template.body") || !strings.Contains(pe.Msg, tc.want) {
				t.Errorf("msg = %q, want template.body and %q", pe.Msg, tc.want)
			}
		})
	}
}

// TestRenderWithinBounds: the same constructs over a typical alert render.
func TestRenderWithinBounds(t *testing.T) {
	spec := &target.TemplateSpec{
		Title: `{{ range .LabelNames }}{{ range $.LabelNames }}{{ end }}{{ end }}{{ printf "%d" (len .Labels) }}`,
		Body:  `{{ range $k, $v := .Labels }}{{ $k }}={{ $v | upper }};{{ end }}`,
	}
	title, body, err := publish.Render(spec, publishtest.Firing())
	if err != nil {
		t.Fatal(err)
	}
	if title != "8" || !strings.Contains(body, "alertname=HIGHERRORRATE;") {
		t.Errorf("Render = %q, %q", title, body)
	}
}
