package integration

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
)

// inNamespace runs a Herald in its own Temporal namespace (registered on
// the test server) and task queue, as a second Herald deployment: alert
// workflow IDs are per namespace, so two Heralds chained to each other must
// not share one.
func inNamespace(ns string) heraldOption {
	return func(c *config.Config) {
		c.TemporalNamespace = ns
		c.TaskQueue = "tq-" + ns
	}
}

// namespaceClient registers namespace ns on the test server, with Herald's
// search attributes, and returns a client for it.
func namespaceClient(t testing.TB, ns string) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: server.GetFrontendHostPort(), Logger: quietSDKLogger{}})
	if err != nil {
		t.Fatalf("namespace client: %v", err)
	}
	defer nc.Close()
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	if err != nil && !strings.Contains(strings.ToLower(err.Error()), "already") {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	c := server.NewClientWithOptions(client.Options{Namespace: ns, Logger: quietSDKLogger{}})
	for {
		err := app.EnsureSearchAttributes(ctx, c, ns)
		if err == nil {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("search attributes of namespace %s: %v", ns, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestHeraldChaining: Herald A's webhook target is Herald B's POST /webhook.
// B takes A's v4 envelope as it takes an Alertmanager's: it keys its alert
// workflow by the fingerprint A sends (the source's, or the one A computed
// from the labels), A's resolve reaches that same workflow run, and B's own
// webhook target gets exactly one firing and one resolve with the labels
// the source sent.
func TestHeraldChaining(t *testing.T) {
	t.Parallel()
	hook := newSink(t)
	b := startHerald(t, []target.Target{webhookTargetFor("b-hook", hook, quickRetry(5))}, inNamespace("herald-chain-b"))
	a := startHerald(t, []target.Target{{Name: "to-herald-b", Type: "webhook", URL: b.http.URL + "/webhook",
		Retry: quickRetry(5)}})

	tests := []struct {
		name        string
		fingerprint string // as the source sends it
	}{
		{name: "source fingerprint", fingerprint: "chain1"},
		{name: "no source fingerprint", fingerprint: ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fire := firingAlert(tc.fingerprint, fmt.Sprintf("HeraldChain%d", i))
			fp := tc.fingerprint
			if fp == "" {
				fp = alert.Fingerprint(fire.Labels)
			}
			started := time.Now()
			if code, body := a.post(webhookBody(fire)); code != 200 {
				t.Fatalf("POST /webhook to A = %d %s", code, body)
			}
			eventually(t, 20*time.Second, "B's target gets the firing alert", func() bool { return hook.countFP(fp, "firing") == 1 })
			firingTook := time.Since(started)
			reqs := deliveriesOf(hook, fp)
			got := reqs[0].Body
			if labels := bodyLabels(got); !maps.Equal(stringMap(labels), fire.Labels) {
				t.Errorf("B delivered labels %v, want the source's %v", labels, fire.Labels)
			}
			if r, _ := got["herald"].(map[string]any); r["sourceReceiver"] != "to-herald-b" {
				t.Errorf("B's herald.sourceReceiver = %v, want A's target name to-herald-b", r["sourceReceiver"])
			}
			code, view := b.alertState(fp)
			if code != 200 || view.WorkflowID != contract.AlertWorkflowID(fp) || view.WorkflowStatus != "running" {
				t.Fatalf("B's alert %s: HTTP %d, workflow %q %s", fp, code, view.WorkflowID, view.WorkflowStatus)
			}
			runID := view.RunID

			started = time.Now()
			if code, body := a.post(webhookBody(resolvedAlert(fire))); code != 200 {
				t.Fatalf("POST /webhook (resolve) to A = %d %s", code, body)
			}
			eventually(t, 20*time.Second, "B's target gets the resolve", func() bool { return hook.countFP(fp, "resolved") == 1 })
			resolveTook := time.Since(started)

			stB := b.waitWorkflowDone(fp)
			if stB.Completed != "resolved" {
				t.Errorf("B's workflow completed %q, want resolved", stB.Completed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			desc, err := b.client.DescribeWorkflowExecution(ctx, contract.AlertWorkflowID(fp), "")
			if err != nil {
				t.Fatalf("describe B's workflow: %v", err)
			}
			if got := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); got != runID {
				t.Errorf("B resolved run %s, the firing alert ran in %s: the resolve started a new workflow", got, runID)
			}
			stA := a.waitWorkflowDone(fp)
			if ts := stA.Targets[0]; stA.Completed != "resolved" || ts.Event != "resolved" || ts.Status != contract.DeliveryDelivered {
				t.Errorf("A: completed %q, target %s %s/%s; want resolved, resolved/delivered", stA.Completed, ts.Name, ts.Event, ts.Status)
			}

			reqs = deliveriesOf(hook, fp)
			events := make([]string, len(reqs))
			for i, r := range reqs {
				events[i] = bodyEvent(r.Body)
				if labels := bodyLabels(r.Body); !maps.Equal(stringMap(labels), fire.Labels) {
					t.Errorf("delivery %d (%s): labels %v, want %v", i, events[i], labels, fire.Labels)
				}
			}
			if strings.Join(events, ",") != "firing,resolved" {
				t.Errorf("B's target got %v for %s, want exactly [firing resolved]", events, fp)
			}
			t.Logf("fingerprint %s through A and B: firing after %s, resolve after %s, one B run", fp,
				firingTook.Round(time.Millisecond), resolveTook.Round(time.Millisecond))
		})
	}
}

// deliveriesOf are the requests hook got for the alert fp, in order.
func deliveriesOf(hook *sink, fp string) []sinkRequest {
	var out []sinkRequest
	for _, r := range hook.all() {
		if bodyFingerprint(r.Body) == fp {
			out = append(out, r)
		}
	}
	return out
}

func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		out[k] = s
	}
	return out
}
