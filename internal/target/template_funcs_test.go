package target_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	promtemplates "github.com/prometheus/common/helpers/templates"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// funcSamples holds, for every function BudgetedFuncs returns, arguments
// it accepts (TestBudgetedFuncsCoverTemplateFuncs calls each with them).
var funcSamples = map[string][]any{
	"upper": {"x"}, "lower": {"X"}, "title": {"x y"}, "join": {", ", []string{"a", "b"}},
	"toJson": {"x"}, "toUpper": {"x"}, "toLower": {"X"}, "trimSpace": {" x "}, "safeHtml": {"<b>"}, "safeUrl": {"http://x"},
	"urlUnescape": {"a%20b"}, "stringSlice": {"a", "b"},
	"match": {"^a", "abc"}, "reReplaceAll": {"a(b)", "$1", "abc"},
	"date": {"15:04", "2024-05-06T06:58:09Z"}, "tz": {"UTC", "2024-05-06T06:58:09Z"},
	"since":    {"2024-05-06T06:58:09Z"},
	"humanize": {1234567}, "humanize1024": {1048576}, "humanizeDuration": {3601},
	"humanizePercentage": {0.1234}, "humanizeTimestamp": {1435065584.128},
	"printf": {"%s", "x"}, "print": {"x"}, "println": {"x"}, "html": {"<"}, "js": {"'"}, "urlquery": {"a b"},
	"_step": {1},
}

// callFunc calls a template function with args and returns its results,
// the error last.
func callFunc(t *testing.T, f any, args ...any) (any, error) {
	t.Helper()
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = reflect.ValueOf(a)
	}
	out := reflect.ValueOf(f).Call(in)
	if len(out) != 2 {
		t.Fatalf("%T returns %d values, want a value and an error", f, len(out))
	}
	err, _ := out[1].Interface().(error)
	return out[0].Interface(), err
}

// execute parses src as validation does and executes it with a budget
// that counts.
func execute(t *testing.T, src string, data any) (string, *countingBudget, error) {
	t.Helper()
	tmpl, err := target.ParseTemplate("body", src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	b := &countingBudget{}
	var out strings.Builder
	err = tmpl.Funcs(target.BudgetedFuncs(b)).Execute(&out, data)
	return out.String(), b, err
}

// TestAlertmanagerFuncs: each function as Alertmanager's (and, for the
// humanize family, Prometheus') documentation and tests show it.
func TestAlertmanagerFuncs(t *testing.T) {
	data := map[string]any{
		"StartsAt": "2024-05-06T06:58:09Z", "EndsAt": "",
		"LabelNames": []string{"alertname", "job"},
		"Labels":     map[string]string{"alertname": "HighErrorRate", "value": "0.0731", "bytes": "1536"},
	}
	for _, tc := range []struct{ src, want string }{
		// Alertmanager's template/template.go.
		{`{{ "Firing" | toUpper }} {{ "Firing" | toLower }}`, "FIRING firing"},
		{`{{ "firing" | title }}|{{ "über alles" | title }}`, "Firing|Über alles"},
		{`{{ "  x y  " | trimSpace }}|`, "x y|"},
		{`{{ .LabelNames | join ", " }}|{{ join ", " .LabelNames }}|{{ join .LabelNames "+" }}`,
			"alertname, job|alertname, job|alertname+job"},
		{`{{ stringSlice "a" "b" "c" | join "-" }}`, "a-b-c"},
		{`{{ if match "^High" .Labels.alertname }}yes{{ end }}{{ if match "^Low" .Labels.alertname }}no{{ end }}`, "yes"},
		{`{{ reReplaceAll "(\\w+)Rate" "$1 rate" .Labels.alertname }}`, "HighError rate"},
		{`{{ reReplaceAll ":[0-9]+$" "" "checkout-7f9c:8080" }}`, "checkout-7f9c"},
		{`{{ reReplaceAll "(?P<host>[a-z]+)\\.(?P<dom>.*)" "${dom}/${host}" "web.example.com" }}`, "example.com/web"},
		{`{{ safeHtml "<b>x</b>" }} {{ safeUrl "https://x/?a=b&c=d" }}`, "<b>x</b> https://x/?a=b&c=d"},
		{"{{ toJson \"a \\\"q\\\"\\n<b>\\u0001\" }}", `"a \"q\"\n<b>\u0001"`},
		{`{{ toJson (stringSlice "a" "b") }}`, `["a","b"]`},
		{`{{ urlUnescape "a%20b%2Fc" }}`, "a b/c"},
		{`{{ .StartsAt | date "2006-01-02 15:04 MST" }}`, "2024-05-06 06:58 UTC"},
		{`{{ .StartsAt | tz "Europe/Paris" | date "15:04 MST" }}`, "08:58 CEST"},
		{`{{ .StartsAt | tz "America/New_York" | date "Jan 2 15:04" }}`, "May 6 02:58"},
		{`{{ .EndsAt | date "2006" }}`, "0001"},
		// Prometheus' template functions.
		{`{{ humanize 1234567 }} {{ humanize 0 }} {{ humanize 1 }} {{ humanize 0.12 }} {{ humanize -1500 }} {{ humanize 1.5e-7 }}`,
			"1.235M 0 1 120m -1.5k 150n"},
		{`{{ humanize "1234567.0" }} {{ .Labels.value | humanize }}`, "1.235M 73.1m"},
		{`{{ humanize1024 1048576 }} {{ humanize1024 0.12 }} {{ humanize1024 1 }} {{ .Labels.bytes | humanize1024 }} {{ humanize1024 1099511627776 }}`,
			"1Mi 0.12 1 1.5ki 1Ti"},
		{`{{ humanizeDuration 3601 }}|{{ humanizeDuration 0 }}|{{ humanizeDuration 1 }}|{{ humanizeDuration 60 }}|{{ humanizeDuration 90061 }}`,
			"1h 0m 1s|0s|1s|1m 0s|1d 1h 1m 1s"},
		{`{{ humanizeDuration -190445 }}|{{ humanizeDuration 899.99 }}|{{ humanizeDuration 0.1 }}|{{ humanizeDuration 0.0001 }}|{{ humanizeDuration 1.2345 }}`,
			"-2d 4h 54m 5s|14m 59s|100ms|100us|1.234s"},
		{`{{ humanizePercentage 0.1234 }} {{ humanizePercentage 0 }} {{ humanizePercentage 1 }} {{ humanizePercentage 1.5 }} {{ humanizePercentage "0.1234567" }}`,
			"12.34% 0% 100% 150% 12.35%"},
		{`{{ humanizeTimestamp 1435065584.128 }}|{{ humanizeTimestamp 0 }}`,
			"2015-06-23 13:19:44.128 +0000 UTC|1970-01-01 00:00:00 +0000 UTC"},
		{`{{ if gt (since .StartsAt).Hours 24.0 }}old{{ end }} {{ since .StartsAt | humanizeDuration | printf "%.0s" }}`, "old "},
	} {
		out, _, err := execute(t, tc.src, data)
		if err != nil || out != tc.want {
			t.Errorf("%s\n = %q, %v\nwant %q", tc.src, out, err, tc.want)
		}
	}
}

// TestHumanizeAgreesWithPrometheus: humanizeDuration and humanizeTimestamp
// print what Prometheus' own (prometheus/common, which Alertmanager uses)
// print, over a sweep of values.
func TestHumanizeAgreesWithPrometheus(t *testing.T) {
	funcs := target.TemplateFuncs
	values := []any{0.0, 1, -1, 59.999, 60, 3599, 3600, 86399, 86400, 1e9, -1e9, 1.5e-3, 2e-7, -0.25,
		math.NaN(), math.Inf(1), math.Inf(-1), "42", "1e3", int64(7), uint64(9), 90 * time.Second, 1435065584.128, -1.5}
	for _, v := range values {
		want, werr := promtemplates.HumanizeDuration(v)
		got, err := callFunc(t, funcs["humanizeDuration"], v)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("humanizeDuration(%v) = %q, %v; Prometheus: %q, %v", v, got, err, want, werr)
		}
		want, werr = promtemplates.HumanizeTimestamp(v)
		got, err = callFunc(t, funcs["humanizeTimestamp"], v)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("humanizeTimestamp(%v) = %q, %v; Prometheus: %q, %v", v, got, err, want, werr)
		}
	}
	if _, err := callFunc(t, funcs["humanizeTimestamp"], 1e300); err == nil {
		t.Error("humanizeTimestamp(1e300): want an overflow error")
	}
}

// TestFuncErrors: bad input fails the execution with a message that names
// the problem; patterns and results over their bounds are refused before
// any large work.
func TestFuncErrors(t *testing.T) {
	data := map[string]any{"Summary": strings.Repeat("ab", 100_000)}
	for _, tc := range []struct{ src, want string }{
		{`{{ match "(" "x" }}`, "missing closing )"},
		{`{{ reReplaceAll "[z-a]" "" "x" }}`, "invalid character class range"},
		{`{{ match "` + strings.Repeat("a", target.MaxRegexpLength+1) + `" "x" }}`,
			fmt.Sprintf("regexp is %d bytes long, over the limit of %d", target.MaxRegexpLength+1, target.MaxRegexpLength)},
		{`{{ match "[a-z]{1000}[0-9]{1000}x{500}" "x" }}`, "too large: its program has more than 2000 instructions"},
		{`{{ match "(?:abc){1000}" "x" }}`, "too large"},
		{`{{ match "((a{100}){100}){100}" "x" }}`, "invalid repeat count"},
		{`{{ reReplaceAll "" "0123456789" .Summary }}`, "over the limit of 1048576"},
		{`{{ reReplaceAll "b" "$0$0$0$0$0$0" .Summary }}`, "over the limit of 1048576"},
		{`{{ join (printf "%100000s" "") (stringSlice "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l") }}`, "over the limit of 1048576"},
		{`{{ join "," "a" }}`, "join takes a separator and a list of strings"},
		{`{{ humanize "many" }}`, "invalid syntax"},
		{`{{ humanize .Summary.x }}`, "can't evaluate field x"},
		{`{{ humanizeDuration true }}`, "can't convert bool to float"},
		{`{{ date "15:04" "yesterday" }}`, "cannot parse"},
		{`{{ date "15:04" 5 }}`, "can't convert int to a time"},
		{`{{ tz "Mars/Olympus_Mons" "2024-05-06T06:58:09Z" }}`, "unknown time zone Mars/Olympus_Mons"},
		{`{{ tz "../../etc/passwd" "2024-05-06T06:58:09Z" }}`, "invalid location name"},
		{`{{ urlUnescape "%zz" }}`, "invalid URL escape"},
	} {
		_, _, err := execute(t, tc.src, data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.80s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
	// A replacement whose result stays small is done, however large the
	// text: the matches are counted first.
	out, _, err := execute(t, `{{ reReplaceAll "a" "" .Summary | len }}`, data)
	if err != nil || out != "100000" {
		t.Errorf("reReplaceAll over 200000 bytes = %q, %v", out, err)
	}
}

// TestRegexpWorkCharged: a regexp's work is charged by text length times
// pattern size, so matching a long text costs more than a short one.
func TestRegexpWorkCharged(t *testing.T) {
	data := map[string]any{"Short": "abc", "Long": strings.Repeat("x", 64<<10)}
	_, short, err := execute(t, `{{ if match "[a-c]+d" .Short }}{{ end }}`, data)
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := execute(t, `{{ if match "[a-c]+d" .Long }}{{ end }}`, data)
	if err != nil {
		t.Fatal(err)
	}
	if long.steps < short.steps+256 {
		t.Errorf("match over 64 KiB charged %d steps, over 3 bytes %d; want at least 256 more", long.steps, short.steps)
	}
}

// TestAlertmanagerStyleTemplate: a template written as an Alertmanager
// user would, adapted to Herald's data (.Labels for .CommonLabels, .URL
// for .GeneratorURL), renders through publish.Render as expected.
func TestAlertmanagerStyleTemplate(t *testing.T) {
	spec := &target.TemplateSpec{
		Title: `[{{ .Status | toUpper }}] {{ .Labels.alertname }} ({{ .Labels.severity | title }})`,
		Body: `{{ .Annotations.summary | trimSpace }}
{{ range $k, $v := .Labels }}{{ if match "^(service|namespace|cluster)$" $k }}- {{ $k | title }}: {{ $v }}
{{ end }}{{ end }}Instance: {{ reReplaceAll ":[0-9]+$" "" .Labels.instance }}
Since: {{ .StartsAt | tz "Europe/Berlin" | date "2006-01-02 15:04 MST" }}
Labels: {{ .LabelNames | join ", " }}
Source: {{ .URL | safeUrl }}`,
	}
	tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h", Template: spec}
	if err := tg.Validate(); err != nil {
		t.Fatalf("the template must be valid: %v", err)
	}
	title, body, err := publish.Render(spec, publishtest.Firing())
	if err != nil {
		t.Fatal(err)
	}
	if want := "[FIRING] HighErrorRate (Critical)"; title != want {
		t.Errorf("title = %q, want %q", title, want)
	}
	want := `Checkout error rate above 5%
- Cluster: prod-eu1
- Namespace: shop
- Service: checkout
Instance: checkout-7f9c
Since: 2024-05-06 08:58 CEST
Labels: alertname, cluster, instance, job, namespace, service, severity, team
Source: http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29`
	if body != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
}

// TestHostileRegexpTemplatesStop: regexps over a large alert in nested
// ranges stop at the execution's bounds (steps, or bytes built) instead of
// burning a core.
func TestHostileRegexpTemplatesStop(t *testing.T) {
	n := publishtest.Firing()
	n.Alert.Labels = map[string]string{}
	for i := range 256 {
		n.Alert.Labels[fmt.Sprintf("label_%03d", i)] = "v"
	}
	n.Alert.Annotations = map[string]string{"summary": strings.Repeat("ab", 4000)}
	for _, tc := range []struct{ name, body, want string }{
		{"match per label pair", `{{ range .Labels }}{{ range $.Labels }}{{ if match "(a|b)*c" $.Summary }}x{{ end }}{{ end }}{{ end }}`,
			"steps"},
		{"reReplaceAll per label pair", `{{ range .Labels }}{{ range $.Labels }}{{ $x := reReplaceAll "a" "xyz" $.Summary }}{{ end }}{{ end }}`,
			"steps"},
		{"humanize per label triple", `{{ range .Labels }}{{ range $.Labels }}{{ range $.Labels }}{{ $x := humanize 1e9 }}{{ end }}{{ end }}{{ end }}`,
			"steps"},
		{"join of a long separator per label", `{{ range .Labels }}{{ $x := join (printf "%500000s" "") (stringSlice "a" "b") }}{{ end }}`,
			"functions built more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &target.TemplateSpec{Body: tc.body}
			if _, err := target.ParseTemplate("body", tc.body); err != nil {
				t.Fatalf("the template must be valid: %v", err)
			}
			start := time.Now()
			_, _, err := publish.Render(spec, n)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			t.Logf("stopped after %v", time.Since(start))
		})
	}
}

// TestStringSliceIsNotRangeData: stringSlice builds a list, and a range
// over a function's result stays refused.
func TestStringSliceIsNotRangeData(t *testing.T) {
	_, err := target.ParseTemplate("body", `{{ range stringSlice "a" "b" }}{{ . }}{{ end }}`)
	if !errors.Is(err, target.ErrTemplateNotAllowed) {
		t.Errorf("err = %v, want ErrTemplateNotAllowed", err)
	}
}

// sampleNames lists funcSamples' names, sorted (for messages).
func sampleNames() []string {
	names := make([]string, 0, len(funcSamples))
	for name := range funcSamples {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
