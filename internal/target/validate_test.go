package target_test

import (
	"errors"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

func TestValidateNamesTargetAndField(t *testing.T) {
	slackURL := "https://hooks.slack.com/services/T0/B0/X"
	ok := func() target.Target {
		return target.Target{Name: "t", Type: "webhook", URL: "https://example.com/hook"}
	}
	with := func(f func(*target.Target)) target.Target { tg := ok(); f(&tg); return tg }
	dur := func(d time.Duration) target.Duration { return target.Duration(d) }

	tests := []struct {
		name   string
		target target.Target
		field  string // "" when valid
		msg    string // part of the message
	}{
		// Valid definitions of every type.
		{name: "webhook", target: ok()},
		{name: "alertmanager", target: target.Target{Name: "am", Type: "alertmanager", URL: "http://am.monitoring:9093"}},
		{name: "slack webhook", target: target.Target{Name: "s", Type: "slack", URL: slackURL}},
		{name: "slack bot", target: target.Target{Name: "s", Type: "slack", Config: &slack.Config{Token: "xoxb-x", Channel: "#c"}}},
		{name: "pagerduty", target: target.Target{Name: "p", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "k"}}},
		{name: "rootly token", target: target.Target{Name: "r", Type: "rootly", Config: &rootly.Config{Token: "k"}}},
		{name: "rootly auth header", target: target.Target{Name: "r", Type: "rootly", Headers: map[string]string{"Authorization": "Bearer k"}}},
		{name: "63 character name", target: with(func(t *target.Target) { t.Name = strings.Repeat("a", 63) })},
		{name: "full options", target: with(func(t *target.Target) {
			t.Headers = map[string]string{"X-Token": "v"}
			t.Filter = target.Filter{"severity": {"critical"}}
			t.Retry = &target.RetrySpec{InitialInterval: dur(time.Second), Backoff: 1, MaxInterval: dur(time.Second), MaxAttempts: 3}
			t.RateLimit = &target.RateLimitSpec{PerSecond: 0.5}
			t.Template = &target.TemplateSpec{Title: "{{ .Labels.alertname }}", Body: "x"}
		})},

		// name
		{name: "missing name", target: with(func(t *target.Target) { t.Name = "" }), field: "name", msg: "is required"},
		{name: "upper-case name", target: with(func(t *target.Target) { t.Name = "Team-A" }), field: "name", msg: "DNS-1123"},
		{name: "underscore in name", target: with(func(t *target.Target) { t.Name = "team_a" }), field: "name", msg: "DNS-1123"},
		{name: "leading dash", target: with(func(t *target.Target) { t.Name = "-a" }), field: "name", msg: "DNS-1123"},
		{name: "trailing dash", target: with(func(t *target.Target) { t.Name = "a-" }), field: "name", msg: "DNS-1123"},
		{name: "64 character name", target: with(func(t *target.Target) { t.Name = strings.Repeat("a", 64) }), field: "name", msg: "at most 63"},

		// type
		{name: "missing type", target: with(func(t *target.Target) { t.Type = "" }), field: "type", msg: "is required (one of " + strings.Join(target.Types(), ", ") + ")"},
		{name: "unknown type", target: with(func(t *target.Target) { t.Type = "carrier-pigeon" }), field: "type", msg: `"carrier-pigeon" is not one of`},
		{name: "type case", target: with(func(t *target.Target) { t.Type = "Slack" }), field: "type", msg: `"Slack" is not one of`},

		// url
		{name: "ftp url", target: with(func(t *target.Target) { t.URL = "ftp://example.com/x" }), field: "url", msg: "absolute http or https URL"},
		{name: "relative url", target: with(func(t *target.Target) { t.URL = "/hook" }), field: "url", msg: "absolute http or https URL"},
		{name: "url without host", target: with(func(t *target.Target) { t.URL = "https://" }), field: "url", msg: "absolute http or https URL"},
		{name: "unparsable url", target: with(func(t *target.Target) { t.URL = "http://[::1" }), field: "url", msg: "absolute http or https URL"},
		{name: "webhook without url", target: with(func(t *target.Target) { t.URL = "" }), field: "url", msg: "is required for type webhook"},
		{name: "alertmanager without url", target: target.Target{Name: "am", Type: "alertmanager"}, field: "url", msg: "is required for type alertmanager"},

		// per type
		{name: "pagerduty without routing key", target: target.Target{Name: "p", Type: "pagerduty"}, field: "routing_key", msg: "Events API v2 integration key"},
		{name: "rootly without token", target: target.Target{Name: "r", Type: "rootly"}, field: "token", msg: "is required for type rootly"},
		{name: "slack without url or token", target: target.Target{Name: "s", Type: "slack"}, field: "url", msg: "incoming webhook URL"},
		{name: "slack token without channel", target: target.Target{Name: "s", Type: "slack", Config: &slack.Config{Token: "xoxb-x"}}, field: "channel", msg: "bot token"},

		// headers
		{name: "empty header name", target: with(func(t *target.Target) { t.Headers = map[string]string{"": "v"} }), field: "headers", msg: "invalid header name"},
		{name: "header name with space", target: with(func(t *target.Target) { t.Headers = map[string]string{"X Token": "v"} }), field: "headers", msg: `"X Token"`},
		{name: "header name with colon", target: with(func(t *target.Target) { t.Headers = map[string]string{"X:Token": "v"} }), field: "headers", msg: "invalid header name"},
		{name: "header name with newline", target: with(func(t *target.Target) { t.Headers = map[string]string{"X\nToken": "v"} }), field: "headers", msg: "invalid header name"},

		// filter
		{name: "filter empty label", target: with(func(t *target.Target) { t.Filter = target.Filter{"": {"x"}} }), field: "filter", msg: "empty label name"},
		{name: "filter without values", target: with(func(t *target.Target) { t.Filter = target.Filter{"severity": nil} }), field: "filter.severity", msg: "at least one value"},

		// retry
		{name: "negative initial interval", target: with(func(t *target.Target) { t.Retry = &target.RetrySpec{InitialInterval: dur(-time.Second)} }), field: "retry", msg: "must not be negative"},
		{name: "negative max interval", target: with(func(t *target.Target) { t.Retry = &target.RetrySpec{MaxInterval: dur(-time.Second)} }), field: "retry", msg: "must not be negative"},
		{name: "negative attempts", target: with(func(t *target.Target) { t.Retry = &target.RetrySpec{MaxAttempts: -1} }), field: "retry", msg: "must not be negative"},
		{name: "backoff below one", target: with(func(t *target.Target) { t.Retry = &target.RetrySpec{Backoff: 0.5} }), field: "retry.backoff", msg: "at least 1.0"},
		{name: "max below initial", target: with(func(t *target.Target) {
			t.Retry = &target.RetrySpec{InitialInterval: dur(time.Minute), MaxInterval: dur(time.Second)}
		}), field: "retry.max_interval", msg: "below initial_interval"},

		// rate limit
		{name: "zero rate", target: with(func(t *target.Target) { t.RateLimit = &target.RateLimitSpec{} }), field: "rate_limit.per_second", msg: "must be positive"},
		{name: "negative rate", target: with(func(t *target.Target) { t.RateLimit = &target.RateLimitSpec{PerSecond: -1} }), field: "rate_limit.per_second", msg: "must be positive"},
		{name: "negative burst", target: with(func(t *target.Target) { t.RateLimit = &target.RateLimitSpec{PerSecond: 1, Burst: -1} }), field: "rate_limit.burst", msg: "must not be negative"},

		// template
		{name: "bad title template", target: with(func(t *target.Target) { t.Template = &target.TemplateSpec{Title: "{{ .Labels"} }), field: "template.title", msg: "does not parse"},
		{name: "bad body template", target: with(func(t *target.Target) { t.Template = &target.TemplateSpec{Body: "{{ end }}"} }), field: "template.body", msg: "does not parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.target.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want valid", err)
				}
				return
			}
			var fe *target.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tc.field || fe.Target != tc.target.Name {
				t.Errorf("FieldError names target %q field %q, want %q and %q", fe.Target, fe.Field, tc.target.Name, tc.field)
			}
			wantName := tc.target.Name
			if wantName == "" {
				wantName = "(unnamed)"
			}
			msg := err.Error()
			for _, part := range []string{`target "` + wantName + `"`, "field " + tc.field + ":", tc.msg} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not contain %q", msg, part)
				}
			}
		})
	}
}

func TestValidateMessagesHideCredentials(t *testing.T) {
	const secret = "s3cr3t-value-1234"
	tests := []target.Target{
		{Name: "w", Type: "webhook", URL: "ftp://user:" + secret + "@example.com/" + secret},
		{Name: "w", Type: "webhook", URL: "https://example.com", Headers: map[string]string{"Bad Name": secret}},
		{Name: "s", Type: "slack", Config: &slack.Config{Token: secret}},
	}
	for _, tg := range tests {
		err := tg.Validate()
		if err == nil {
			t.Fatalf("%+v: want an error", tg)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("message leaks a credential: %v", err)
		}
	}
}
