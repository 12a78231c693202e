package target_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/target"
)

// Tests of the per-type option blocks: slack, pagerduty, rootly.
func TestTypeOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		json  string
		field string // the FieldError field; "" for a valid target
		check func(t *testing.T, tg target.Target)
	}{
		{name: "slack options", json: `{"name":"s","type":"slack","url":"https://hooks.slack.com/services/T/B/X",
			"slack":{"username":"Herald","icon_emoji":":rotating_light:"}}`,
			check: func(t *testing.T, tg target.Target) {
				o := slack.ConfigOf(tg).Slack
				if o == nil || o.Username != "Herald" || o.IconEmoji != ":rotating_light:" {
					t.Errorf("slack options = %+v", o)
				}
			}},
		{name: "slack icon_emoji without colons", field: "slack.icon_emoji",
			json: `{"name":"s","type":"slack","url":"https://hooks.slack.com/x","slack":{"icon_emoji":"fire"}}`},
		{name: "slack username too long", field: "slack.username",
			json: `{"name":"s","type":"slack","url":"https://hooks.slack.com/x","slack":{"username":"` + strings.Repeat("u", 81) + `"}}`},
		{name: "slack options on a webhook", field: "parse",
			json: `{"name":"w","type":"webhook","url":"https://example.com","slack":{"username":"x"}}`},
		{name: "pagerduty options", json: `{"name":"p","type":"pagerduty","routing_key":"k",
			"pagerduty":{"source":"k8s-prod","component":"api","group":"platform","class":"slo"}}`,
			check: func(t *testing.T, tg target.Target) {
				want := pagerduty.Options{Source: "k8s-prod", Component: "api", Group: "platform", Class: "slo"}
				if o := pagerduty.ConfigOf(tg).PagerDuty; o == nil || !reflect.DeepEqual(*o, want) {
					t.Errorf("pagerduty options = %+v", o)
				}
			}},
		{name: "pagerduty class too long", field: "pagerduty.class",
			json: `{"name":"p","type":"pagerduty","routing_key":"k","pagerduty":{"class":"` + strings.Repeat("c", 256) + `"}}`},
		{name: "pagerduty options on rootly", field: "parse",
			json: `{"name":"r","type":"rootly","token":"t","pagerduty":{"source":"x"}}`},
		{name: "rootly options", json: `{"name":"r","type":"rootly","token":"t","rootly":{"source":"generic_webhook",
			"notification_target_type":"EscalationPolicy","notification_target_id":"ep-1","alert_urgency_id":"u-1",
			"service_ids":["s-1"],"group_ids":["g-1"],"environment_ids":["e-1"]}}`,
			check: func(t *testing.T, tg target.Target) {
				o := rootly.ConfigOf(tg).Rootly
				if o == nil || o.Source != "generic_webhook" || o.NotificationTargetID != "ep-1" || o.ServiceIDs[0] != "s-1" ||
					o.GroupIDs[0] != "g-1" || o.EnvironmentIDs[0] != "e-1" || o.AlertUrgencyID != "u-1" {
					t.Errorf("rootly options = %+v", o)
				}
			}},
		{name: "rootly unknown source", field: "rootly.source",
			json: `{"name":"r","type":"rootly","token":"t","rootly":{"source":"herald"}}`},
		{name: "rootly unknown notification target type", field: "rootly.notification_target_type",
			json: `{"name":"r","type":"rootly","token":"t","rootly":{"notification_target_type":"Team","notification_target_id":"x"}}`},
		{name: "rootly target type without id", field: "rootly.notification_target_id",
			json: `{"name":"r","type":"rootly","token":"t","rootly":{"notification_target_type":"Service"}}`},
		{name: "rootly target id without type", field: "rootly.notification_target_id",
			json: `{"name":"r","type":"rootly","token":"t","rootly":{"notification_target_id":"x"}}`},
		{name: "rootly options on slack", field: "parse",
			json: `{"name":"s","type":"slack","url":"https://hooks.slack.com/x","rootly":{}}`},
		{name: "alertmanager forward_ttl", json: `{"name":"a","type":"alertmanager","url":"http://am:9093","alertmanager":{"forward_ttl":"90s"}}`,
			check: func(t *testing.T, tg target.Target) {
				if alertmanager.ForwardTTL(tg) != 90*time.Second || tg.Ref().ForwardTTL != 90*time.Second {
					t.Errorf("forward TTL = %v, ref %v", alertmanager.ForwardTTL(tg), tg.Ref().ForwardTTL)
				}
			}},
		{name: "alertmanager forward_ttl too short", field: "alertmanager.forward_ttl",
			json: `{"name":"a","type":"alertmanager","url":"http://am:9093","alertmanager":{"forward_ttl":"3s"}}`},
		{name: "alertmanager forward_ttl too long", field: "alertmanager.forward_ttl",
			json: `{"name":"a","type":"alertmanager","url":"http://am:9093","alertmanager":{"forward_ttl":"25h"}}`},
		{name: "alertmanager options on a webhook", field: "parse",
			json: `{"name":"w","type":"webhook","url":"https://example.com","alertmanager":{"forward_ttl":"1h"}}`},
		{name: "unknown option key is rejected", field: "parse",
			json: `{"name":"s","type":"slack","url":"https://hooks.slack.com/x","slack":{"colour":"red"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := target.ParseOne([]byte(tc.json), "test")
			switch {
			case tc.field == "":
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if tc.check != nil {
					tc.check(t, tg)
				}
			case tc.field == "parse":
				var pe *target.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("want a parse error, got %v", err)
				}
			default:
				var fe *target.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("want a field error on %s, got %v", tc.field, err)
				}
				if fe.Field != tc.field {
					t.Errorf("field = %q, want %q (%v)", fe.Field, tc.field, err)
				}
			}
		})
	}
}

// TestRefForwardTTL: the workflow learns the forward TTL of alertmanager
// targets (default 1h) from the Ref, as "forwardTTL"; other types have none.
func TestRefForwardTTL(t *testing.T) {
	for _, tc := range []struct {
		name string
		tg   target.Target
		want time.Duration
		json string
	}{
		{"alertmanager default", target.Target{Name: "a", Type: "alertmanager", URL: "http://am"}, time.Hour, `"forwardTTL":3600000000000`},
		{"alertmanager option", target.Target{Name: "a", Type: "alertmanager", URL: "http://am",
			Config: &alertmanager.Config{Alertmanager: &alertmanager.Options{ForwardTTL: target.Duration(3 * time.Second)}}}, 3 * time.Second, `"forwardTTL":3000000000`},
		{"webhook", target.Target{Name: "w", Type: "webhook", URL: "http://w"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.tg.Ref()
			if ref.ForwardTTL != tc.want {
				t.Errorf("ForwardTTL = %v, want %v", ref.ForwardTTL, tc.want)
			}
			b, err := json.Marshal(ref)
			if err != nil {
				t.Fatal(err)
			}
			if tc.json != "" && !strings.Contains(string(b), tc.json) || tc.json == "" && strings.Contains(string(b), "forwardTTL") {
				t.Errorf("ref JSON = %s, want %q", b, tc.json)
			}
		})
	}
}

func TestTypeOptionsKeepCredentialsOutOfPublicView(t *testing.T) {
	tg := target.Target{Name: "r", Type: "rootly", Config: &rootly.Config{Token: "rootly-secret-token",
		Rootly: &rootly.Options{NotificationTargetType: "Service", NotificationTargetID: "svc"}}}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	if p := tg.Public(); p.Token != target.Redacted {
		t.Errorf("public token = %q", p.Token)
	}
}
