package target_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// The http_config block of a target object: decoded beside the type's own
// fields, validated with the target (files only for the operator's
// targets, never for non-HTTP types), its credentials redacted, shown only
// as present with its warnings, and written back out by MarshalJSON.
func TestHTTPConfigBlock(t *testing.T) {
	const pass = "s3cret-http-config-pass"
	for _, tc := range []struct {
		name   string
		json   string
		tenant bool
		field  string // the FieldError's field; "parse" for a ParseError; "" for valid
	}{
		{name: "webhook with basic auth", json: `{"name":"w","type":"webhook","url":"https://h.example/x",
			"http_config":{"basic_auth":{"username":"u","password":"` + pass + `"}}}`},
		{name: "slack (a type with its own config) with a proxy", json: `{"name":"s","type":"slack","token":"xoxb-1","channel":"#c",
			"http_config":{"proxy_url":"http://proxy.example:3128"}}`},
		{name: "unknown key inside", field: "parse",
			json: `{"name":"w","type":"webhook","url":"https://h.example/x","http_config":{"follow_redirects":true}}`},
		{name: "two auth kinds", field: "http_config",
			json: `{"name":"w","type":"webhook","url":"https://h.example/x","http_config":{"basic_auth":{"username":"u","password":"p"},"authorization":{"credentials":"c"}}}`},
		{name: "a file for the operator", field: "http_config.tls_config.ca_file",
			json: `{"name":"w","type":"webhook","url":"https://h.example/x","http_config":{"tls_config":{"ca_file":"/nonexistent/ca.pem"}}}`},
		{name: "a file for a tenant", tenant: true, field: "http_config.basic_auth.password_file",
			json: `{"name":"w","type":"webhook","url":"https://h.example/x","http_config":{"basic_auth":{"username":"u","password_file":"/var/run/secrets/kubernetes.io/serviceaccount/token"}}}`},
		{name: "email is not HTTP", field: "http_config",
			json: `{"name":"e","type":"email","smarthost":"smtp.example.com:587","from":"a@example.com","to":["b@example.com"],"http_config":{"proxy_url":"http://p.example:3128"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parse := target.ParseOne
			if tc.tenant {
				parse = target.ParseTenant
			}
			tg, err := parse([]byte(tc.json), "test")
			switch tc.field {
			case "":
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				if tg.HTTPConfig == nil {
					t.Fatal("http_config not decoded")
				}
				b, err := tg.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				again, err := target.ParseOne(b, "again")
				if err != nil || again.HTTPConfig == nil {
					t.Fatalf("round trip of %s: %v", b, err)
				}
				if !tg.Public().HTTPConfig {
					t.Error("public view does not say the target has an http_config")
				}
			case "parse":
				var pe *target.ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), "http_config") {
					t.Fatalf("want a parse error naming http_config, got %v", err)
				}
			default:
				var fe *target.FieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
					t.Fatalf("want a field error on %s, got %v", tc.field, err)
				}
			}
		})
	}

	tg, err := target.ParseOne([]byte(`{"name":"w","type":"webhook","url":"https://h.example/x",
		"http_config":{"basic_auth":{"username":"u","password":"`+pass+`"},"tls_config":{"insecure_skip_verify":true}}}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range tg.Secrets() {
		found = found || s == pass
	}
	if !found {
		t.Errorf("Secrets() = %q lacks the http_config password", tg.Secrets())
	}
	p := tg.Public()
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "insecure_skip_verify") {
		t.Errorf("public warnings = %q, want the skip-verify warning", p.Warnings)
	}
}
