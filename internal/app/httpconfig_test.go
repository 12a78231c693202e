package app_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// A target's http_config applies to its deliveries and its probes through
// the worker's one delivery client: a receiver behind a private CA that
// wants basic auth is reached by the target that names the CA and the
// credentials, and refused to a target at the same URL without them.
// Everything is the worker's composition: the targets file's parser, the
// registry, the activities, the publishers and the prober on
// app.HTTPClient.
func TestHTTPConfigAppliesToDeliveriesAndProbes(t *testing.T) {
	var authorized, refused atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "herald" || p != "s3cret-basic-pass" {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemCA, 0o600); err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprintf(`[
	  {"name": "with-config", "type": "webhook", "url": %q,
	   "http_config": {"tls_config": {"ca_file": %q}, "basic_auth": {"username": "herald", "password": "s3cret-basic-pass"}}},
	  {"name": "without-config", "type": "webhook", "url": %q},
	  {"name": "ca-only", "type": "webhook", "url": %q, "http_config": {"tls_config": {"ca_file": %q}}}
	]`, srv.URL+"/hook", caFile, srv.URL+"/hook", srv.URL+"/hook", caFile)
	targets, problems, err := target.ParseList([]byte(list), "file:targets.json")
	if err != nil || len(problems) > 0 || len(targets) != 3 {
		t.Fatalf("targets = %d, problems %+v, err %v", len(targets), problems, err)
	}
	reg := target.NewRegistry()
	reg.Update("file:targets.json", targets, nil)

	hc := app.HTTPClient()
	a := app.NewActivities(app.WorkerDeps{Registry: reg, Publishers: app.Publishers(hc, nil),
		Prober: &health.Prober{Client: hc}, Logger: quiet()})
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(quiet()))
	publishTo := func(name string) error {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		_, err := env.ExecuteActivity(a.Publish, activities.PublishInput{Target: name, Notification: publish.Notification{
			Alert: alert.Alert{Fingerprint: "fp1", Status: alert.StatusFiring, Labels: map[string]string{"alertname": "X"}},
			Event: publish.EventFiring,
		}})
		return err
	}

	if err := publishTo("with-config"); err != nil {
		t.Fatalf("delivery with the CA and basic auth: %v", err)
	}
	if n := authorized.Load(); n != 1 {
		t.Fatalf("authorized requests = %d, want 1", n)
	}
	err = publishTo("without-config")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != publish.KindNetwork || !strings.Contains(appErr.Message(), "certificate") {
		t.Errorf("delivery without the CA = %v; want a network (TLS) failure", err)
	}
	err = publishTo("ca-only")
	if !errors.As(err, &appErr) || appErr.Type() != publish.KindHTTPClient || appErr.NonRetryable() != true {
		t.Errorf("delivery with the CA but no credentials = %v; want the receiver's permanent 401", err)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("requests refused by the receiver = %d, want the ca-only target's 1", n)
	}
	if strings.Contains(fmt.Sprint(err), "s3cret-basic-pass") {
		t.Errorf("an error holds the password: %v", err)
	}

	// Probes: the connect step and the request use the same TLS settings.
	if o, err := a.ProbeTarget(context.Background(), "with-config"); err != nil || !o.OK {
		t.Errorf("probe with the CA and basic auth = %+v, %v; want healthy", o, err)
	}
	if o, err := a.ProbeTarget(context.Background(), "without-config"); err != nil || o.OK || o.Class != health.ClassTLS {
		t.Errorf("probe without the CA = %+v, %v; want a tls failure", o, err)
	}
	if n := authorized.Load(); n != 2 {
		t.Errorf("authorized requests = %d, want the delivery's and the probe's", n)
	}
}
