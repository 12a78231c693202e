package publish_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// TestSendNeverFollowsRedirects: a 3xx is a permanent failure naming the
// Location host only, and nothing reaches the redirect target, even with a
// client that would follow redirects.
func TestSendNeverFollowsRedirects(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	defer elsewhere.Close()
	host := strings.TrimPrefix(elsewhere.URL, "http://")
	const secretPath, secretQuery = "/landing/TOKEN-5e4d3c2b", "sig=QUERYSECRET77"
	location := elsewhere.URL + secretPath + "?" + secretQuery

	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, client := range []struct {
			name string
			c    *http.Client
		}{
			{"following client", &http.Client{}},
			{"default client", nil},
			{"NoRedirect client", &http.Client{CheckRedirect: publish.NoRedirect}},
		} {
			t.Run(http.StatusText(code)+"/"+client.name, func(t *testing.T) {
				srv := publishtest.NewServer(t, publishtest.Status(code, "moved").WithHeader("Location", location))
				resp, err := publish.SendJSON(context.Background(), client.c, http.MethodPost, srv.URL+"/hook",
					map[string]string{"Authorization": "Bearer header-secret"}, map[string]string{"routing_key": "rk"})
				pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
				if pe.StatusCode != code || resp.StatusCode != code {
					t.Errorf("status = %d / %d, want %d", pe.StatusCode, resp.StatusCode, code)
				}
				if !strings.Contains(pe.Msg, "redirect to host "+host) {
					t.Errorf("msg = %q, want it to name host %s", pe.Msg, host)
				}
				publishtest.AssertNoSecret(t, pe.Error(), secretPath, secretQuery, "header-secret")
				if n := len(srv.Requests()); n != 1 {
					t.Errorf("origin received %d requests, want 1", n)
				}
			})
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests, want 0", n)
	}
}

func TestRedirectMessage(t *testing.T) {
	for _, tc := range []struct{ location, want string }{
		{"", "redirect without a Location"},
		{"/other/path?token=x", "redirect to another path on the same host"},
		{"https://user:pw@login.example.com:8443/p?q=1", "redirect to host login.example.com:8443;"},
		{"http://[::1", "redirect to an unreadable Location"},
	} {
		got := publish.RedirectMessage(tc.location)
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "pw") || strings.Contains(got, "token") {
			t.Errorf("RedirectMessage(%q) = %q, want prefix %q", tc.location, got, tc.want)
		}
	}
}

// TestTemplateFunctionsValidateAndRender: every documented template
// function passes target validation and renders; an undefined one fails
// validation.
func TestTemplateFunctionsValidateAndRender(t *testing.T) {
	for _, tc := range []struct {
		name, title, body   string
		wantTitle, wantBody string
		wantInvalid         string
	}{
		{name: "upper lower title", title: `{{ .Severity | upper }} {{ .Name | lower }} {{ title .Labels.team }} {{ title "über" }}`,
			wantTitle: "CRITICAL higherrorrate Payments Über"},
		{name: "pipeline", body: `{{ .Summary | lower | title }}`, wantBody: "Checkout error rate above 5%"},
		{name: "join", body: `{{ join .LabelNames "," }}`, wantBody: "alertname,cluster,instance,job,namespace,service,severity,team"},
		{name: "undefined function", body: `{{ split .Summary }}`, wantInvalid: "template.body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &target.TemplateSpec{Title: tc.title, Body: tc.body}
			tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h", Template: spec}
			err := tg.Validate()
			if tc.wantInvalid != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantInvalid) {
					t.Errorf("Validate = %v, want a %s error", err, tc.wantInvalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			title, body, err := publish.Render(spec, publishtest.Firing())
			if err != nil {
				t.Fatal(err)
			}
			if title != tc.wantTitle || body != tc.wantBody {
				t.Errorf("Render = %q, %q; want %q, %q", title, body, tc.wantTitle, tc.wantBody)
			}
		})
	}
}

func TestRenderOutputBounded(t *testing.T) {
	n := publishtest.Firing()
	n.Alert.Annotations = map[string]string{"description": strings.Repeat("d", 100<<10)}
	spec := &target.TemplateSpec{Body: `{{ range .Labels }}{{ $.Annotations.description }}{{ end }}`}
	_, _, err := publish.Render(spec, n)
	pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
	if !strings.Contains(pe.Msg, "exceeds") {
		t.Errorf("msg = %q", pe.Msg)
	}
}

// TestUnboundedTemplatesAreInvalid: constructs whose run time does not
// depend on the alert's size fail validation, so a template can never hang
// a delivery.
func TestUnboundedTemplatesAreInvalid(t *testing.T) {
	for _, tc := range []struct {
		src, wantErr string
	}{
		{`{{ define "a" }}{{ range $.LabelNames }}{{ template "a" $ }}{{ end }}{{ end }}{{ template "a" . }}`, "{{template"},
		{`{{ range 10000000000 }}{{ end }}`, "range over a number"},
		{`{{ $n := 99999999 }}{{ range $n }}x{{ end }}`, "range over a number"},
		{`{{ range (10000000) }}{{ end }}`, "range over a number"},
		{`{{ range .Labels }}{{ range .Labels }}{{ range .Labels }}{{ range .Labels }}{{ end }}{{ end }}{{ end }}{{ end }}`, "nested deeper than 3"},
		{`{{ range .Labels }}{{ range $.Labels }}{{ range $.LabelNames }}{{ . }}{{ end }}{{ end }}{{ end }}`, ""},
		{`{{ range $k, $v := .Labels }}{{ $k }}={{ $v }}{{ else }}none{{ end }}`, ""},
		{`{{ with .Labels.team }}{{ range $.LabelNames }}{{ . }}{{ end }}{{ end }}`, ""},
	} {
		tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h",
			Template: &target.TemplateSpec{Body: tc.src}}
		err := tg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: Validate = %v, want valid", tc.src, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: Validate = %v, want an error with %q", tc.src, err, tc.wantErr)
		}
	}
}
