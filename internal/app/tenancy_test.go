package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// A target from a Kubernetes Secret may not reach a loopback receiver
// (httptest on 127.0.0.1), neither with deliveries nor with health probes;
// a target of the targets file (the operator's own) reaches the same
// receiver. Everything is the worker's real composition: discovery from
// Secrets, the registry, the activities, the publishers and the prober on
// Herald's delivery HTTP client.
func TestSecretTargetsCannotReachLoopback(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"internal": "only the operator may read this"}`)
	}))
	defer srv.Close()

	reg := target.NewRegistry()
	reg.Update("file:targets.yaml", []target.Target{{Name: "from-file", Type: "webhook", URL: srv.URL + "/hook",
		Origin: "file:targets.yaml#0"}}, nil)
	// The Secret names the receiver by a name that resolves to loopback:
	// only the dial-time check can catch it.
	secretURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hook"
	client := fake.NewSimpleClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hook", Labels: map[string]string{"publishing-target": "true"}},
		Data:       map[string][]byte{"config": []byte(`{"name": "from-secret", "type": "webhook", "url": "` + secretURL + `"}`)},
	})
	src, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"team-a"}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, reg) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := reg.Get("from-secret"); !ok; _, ok = reg.Get("from-secret") {
		if time.Now().After(deadline) {
			t.Fatalf("the Secret's target was not discovered; problems %+v", reg.Snapshot().Problems)
		}
		time.Sleep(5 * time.Millisecond)
	}

	hc := app.HTTPClient()
	a := app.NewActivities(app.WorkerDeps{Registry: reg, Publishers: app.Publishers(hc, nil),
		Prober: &health.Prober{Client: hc}, Logger: quiet()})
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(quiet()))
	publishTo := func(name string) error {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		_, err := env.ExecuteActivity(a.Publish, activities.PublishInput{Target: name, Notification: publish.Notification{
			Alert: alert.Alert{Fingerprint: "fp1", Status: alert.StatusFiring, Labels: map[string]string{"alertname": "X", "namespace": "team-a"}},
			Event: publish.EventFiring,
		}})
		return err
	}

	// Deliveries.
	err = publishTo("from-secret")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != publish.KindConfig || !appErr.NonRetryable() || !strings.Contains(appErr.Message(), "may not reach") {
		t.Fatalf("delivery to the Secret's loopback target = %v; want a permanent config error naming the refusal", err)
	}
	if strings.Contains(appErr.Message(), "only the operator") {
		t.Errorf("the refusal carries the receiver's answer: %s", appErr.Message())
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests from the Secret's target", n)
	}
	if err := publishTo("from-file"); err != nil {
		t.Fatalf("delivery to the file's target: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the receiver got %d requests, want the file target's 1", n)
	}

	// Health probes.
	o, err := a.ProbeTarget(context.Background(), "from-secret")
	if err != nil || o.OK || o.Class != health.ClassConfig || !strings.Contains(o.Message, "may not reach") {
		t.Errorf("probe of the Secret's target = %+v, %v; want a config failure naming the refusal", o, err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the probe of the Secret's target reached the receiver (%d requests)", n)
	}
	if o, err := a.ProbeTarget(context.Background(), "from-file"); err != nil || !o.OK {
		t.Errorf("probe of the file's target = %+v, %v", o, err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
