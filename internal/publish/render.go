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

// templateCache holds parsed templates by source. Targets have few
// templates; the bound keeps arbitrary sources from growing it forever.
var (
	templateCache     sync.Map // template source -> *template.Template
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

// Render renders the target's title and body templates. Empty templates
// render to "", and the caller falls back to its default text.
func Render(spec *target.TemplateSpec, n Notification) (title, body string, err error) {
	if spec == nil {
		return "", "", nil
	}
	data := NewTemplateData(n)
	if title, err = execTemplate(spec.Title, data); err != nil {
		return "", "", Permanent(KindConfig, "template.title: %v", err)
	}
	if body, err = execTemplate(spec.Body, data); err != nil {
		return "", "", Permanent(KindConfig, "template.body: %v", err)
	}
	return title, body, nil
}

func execTemplate(src string, data TemplateData) (string, error) {
	if src == "" {
		return "", nil
	}
	var tmpl *template.Template
	if v, ok := templateCache.Load(src); ok {
		tmpl = v.(*template.Template)
	} else {
		t, err := target.ParseTemplate("t", src)
		if err != nil {
			return "", err
		}
		if templateCacheSize.Add(1) <= maxCachedTemplates {
			templateCache.Store(src, t)
		}
		tmpl = t
	}
	var b cappedBuffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// cappedBuffer is a bytes.Buffer that refuses to grow past MaxTemplateOutput.
type cappedBuffer struct{ bytes.Buffer }

var errTemplateOutput = errors.New("output exceeds " + strconv.Itoa(MaxTemplateOutput) + " bytes")

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxTemplateOutput {
		return 0, errTemplateOutput
	}
	return b.Buffer.Write(p)
}
