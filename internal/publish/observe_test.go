package publish_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

type observation struct {
	typ string
	d   time.Duration
}

// TestEveryPublisherObservesItsFormatStep: each publisher reports exactly
// one format duration per delivery, under its own target type, through
// its ObserveFormat hook (the worker feeds herald_format_duration_seconds
// from it).
func TestEveryPublisherObservesItsFormatStep(t *testing.T) {
	cases := []struct {
		typ    string
		answer publishtest.Response
		pub    func(obs publish.FormatObserver, c *http.Client) publish.Publisher
		target func(url string) target.Target
		n      publish.Notification
	}{
		{typ: "webhook", answer: publishtest.OK(""),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &webhook.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target { return target.Target{Name: "hook", Type: "webhook", URL: u} }},
		{typ: "alertmanager", answer: publishtest.OK(""),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &alertmanager.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target { return target.Target{Name: "am", Type: "alertmanager", URL: u} }},
		{typ: "slack", answer: publishtest.OK("ok"),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &slack.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target {
				return target.Target{Name: "slack", Type: "slack", URL: u + "/services/x"}
			}},
		{typ: "slack" + " (web api)", answer: publishtest.JSON(200, map[string]any{"ok": true, "channel": "C1", "ts": "1.2"}),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &slack.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target {
				return target.Target{Name: "bot", Type: "slack", Config: &slack.Config{Token: "xoxb-1", Channel: "#alerts"}, URL: u}
			}},
		{typ: "pagerduty", answer: publishtest.JSON(http.StatusAccepted, map[string]string{"status": "success", "dedup_key": "k"}),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &pagerduty.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target {
				return target.Target{Name: "pd", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "R0UTINGKEY0123456789abcdefABCDEF"}, URL: u}
			}},
		{typ: "rootly", answer: publishtest.JSON(201, map[string]any{"data": map[string]any{"id": "r1", "type": "alerts"}}),
			pub: func(o publish.FormatObserver, c *http.Client) publish.Publisher {
				return &rootly.Publisher{Client: c, ObserveFormat: o}
			},
			target: func(u string) target.Target {
				return target.Target{Name: "rootly", Type: "rootly", Config: &rootly.Config{Token: "tok"}, URL: u}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			srv := publishtest.NewServer(t)
			srv.AnswerFromNowOn(tc.answer)
			var got []observation
			obs := func(typ string, d time.Duration) { got = append(got, observation{typ, d}) }
			tg := tc.target(srv.URL)
			if _, err := tc.pub(obs, srv.Client()).Publish(context.Background(), tg, publishtest.Firing()); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("observed %d format steps, want 1: %v", len(got), got)
			}
			if got[0].typ != tg.Type || got[0].d <= 0 {
				t.Errorf("observed %+v, want type %s and a positive duration", got[0], tg.Type)
			}
			// Without an observer the publisher still works.
			if _, err := tc.pub(nil, srv.Client()).Publish(context.Background(), tg, publishtest.Firing()); err != nil {
				t.Fatalf("Publish without observer: %v", err)
			}
		})
	}
}
