package publish

import (
	"bytes"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"text/template"

	"github.com/herald-alerts/herald/internal/alert"

	"github.com/herald-alerts/herald/internal/target"
)

// templateCache holds parsed templates by name and source. Targets have few
// templates; the bound keeps arbitrary sources from growing it forever.
var (
	templateCache     sync.Map // name + "\x00" + source -> *template.Template
	templateCacheSize atomic.Int64
)

const maxCachedTemplates = 1024

// MaxTemplateOutput bounds what one template may render (bytes); a template
// writing more fails with a config error instead of growing without bound.
const MaxTemplateOutput = 256 << 10

// TemplateData is what a target's title and body templates see.
type TemplateData struct {
	Event       string
	Status      string
	Name        string
	Severity    string
	Summary     string
	Fingerprint string
	Labels      map[string]string
	// LabelNames are the label names, sorted (for join).
	LabelNames  []string
	Annotations map[string]string
	StartsAt    string
	EndsAt      string
	URL         string
}

// NewTemplateData builds the template view of a notification.
func NewTemplateData(n Notification) TemplateData {
	d := TemplateData{
		Event: n.Event, Status: n.Alert.Status, Name: n.Alert.Name(), Severity: n.Severity(),
		Summary: n.Alert.Summary(), Fingerprint: n.Alert.Fingerprint, Labels: n.Alert.Labels,
		LabelNames: alert.SortedKeys(n.Alert.Labels), Annotations: n.Alert.Annotations, URL: n.Alert.GeneratorURL,
	}
	if !n.Alert.StartsAt.IsZero() {
		d.StartsAt = n.Alert.StartsAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	if !n.Alert.EndsAt.IsZero() && n.Alert.Resolved() {
		d.EndsAt = n.Alert.EndsAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	return d
}

// Bounds of one template execution, besides MaxTemplateOutput. Steps count
// work: every action, if, with and range evaluated (weighted by the size
// of its pipeline), every range iteration, every function call and every
// piece of output; every string a function builds (printf, join, upper...)
// counts its bytes. An execution that goes
// past a bound stops there with a config error, so a template's run time
// is bounded whatever it loops over.
const (
	MaxTemplateSteps      = 256 << 10
	MaxTemplateFuncOutput = 16 << 20
)

// Render renders the target's title and body templates. Empty templates
// render to "", and the caller falls back to its default text.
func Render(spec *target.TemplateSpec, n Notification) (title, body string, err error) {
	if spec == nil {
		return "", "", nil
	}
	data := NewTemplateData(n)
	if title, err = execTemplate("title", spec.Title, data); err != nil {
		return "", "", Permanent(KindConfig, "template.title: %v", err)
	}
	if body, err = execTemplate("body", spec.Body, data); err != nil {
		return "", "", Permanent(KindConfig, "template.body: %v", err)
	}
	return title, body, nil
}

// execTemplate parses src as validation does (same name, same checks) and
// executes it within the bounds above.
func execTemplate(name, src string, data TemplateData) (string, error) {
	if src == "" {
		return "", nil
	}
	key := name + "\x00" + src
	var tmpl *template.Template
	if v, ok := templateCache.Load(key); ok {
		tmpl = v.(*template.Template)
	} else {
		t, err := target.ParseTemplate(name, src)
		if err != nil {
			return "", err
		}
		if templateCacheSize.Add(1) <= maxCachedTemplates {
			templateCache.Store(key, t)
		}
		tmpl = t
	}
	// A clone per execution carries this execution's budget in its
	// functions; the parsed tree is shared.
	b := &budgetWriter{}
	run, err := tmpl.Clone()
	if err != nil {
		return "", err
	}
	run.Funcs(target.BudgetedFuncs(b))
	if err := run.Execute(b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

var (
	errTemplateOutput = errors.New("output exceeds " + strconv.Itoa(MaxTemplateOutput) + " bytes")
	errTemplateSteps  = errors.New("execution exceeds " + strconv.Itoa(MaxTemplateSteps) +
		" steps (evaluations, range iterations, outputs)")
	errTemplateFuncOutput = errors.New("functions built more than " + strconv.Itoa(MaxTemplateFuncOutput) + " bytes")
)

// budgetWriter is the output of one execution and its target.Budget: a
// bytes.Buffer that refuses to grow past MaxTemplateOutput, and counts
// every write as a step, as well as the steps ParseTemplate's step calls
// and the functions charge (target.BudgetedFuncs). text/template stops the
// execution at the first refused write or function call.
type budgetWriter struct {
	bytes.Buffer
	steps     int
	funcBytes int
}

func (b *budgetWriter) Write(p []byte) (int, error) {
	if err := b.Step(1); err != nil {
		return 0, err
	}
	if b.Len()+len(p) > MaxTemplateOutput {
		return 0, errTemplateOutput
	}
	return b.Buffer.Write(p)
}

// Step charges n steps.
func (b *budgetWriter) Step(n int) error {
	if b.steps += n; b.steps > MaxTemplateSteps {
		return errTemplateSteps
	}
	return nil
}

// Built charges a string of n bytes a function built.
func (b *budgetWriter) Built(n int) error {
	if b.funcBytes += n; b.funcBytes > MaxTemplateFuncOutput {
		return errTemplateFuncOutput
	}
	return nil
}
