package email_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/publish/email"
	"github.com/herald-alerts/herald/internal/target"
)

func valid() map[string]any {
	return map[string]any{
		"name": "ops-mail", "type": "email", "smarthost": "smtp.example.com:587",
		"from": "Herald <alerts@example.com>", "to": []string{"oncall@example.com"},
	}
}

// TestValidation: every missing or invalid field is a FieldError naming
// it; unknown fields (insecure_skip_verify included) are refused.
func TestValidation(t *testing.T) {
	cases := []struct {
		name  string
		set   []any
		field string // "" = valid; "!" = a malformed object (unknown field)
	}{
		{"minimal", nil, ""},
		{"every field", []any{"auth_username", "u@example.com", "auth_password", "example-pw", "auth_identity", "u",
			"require_tls", false, "tls", map[string]any{"ca_file": "/etc/ca.pem", "server_name": "smtp.example.com",
				"cert_file": "/etc/c.pem", "key_file": "/etc/k.pem"}}, ""},
		{"IP smarthost", []any{"smarthost", "[2001:db8::1]:25"}, ""},
		{"smarthost missing", []any{"smarthost", nil}, "smarthost"},
		{"smarthost without port", []any{"smarthost", "smtp.example.com"}, "smarthost"},
		{"smarthost port 0", []any{"smarthost", "smtp.example.com:0"}, "smarthost"},
		{"smarthost port too large", []any{"smarthost", "smtp.example.com:70000"}, "smarthost"},
		{"smarthost port by name", []any{"smarthost", "smtp.example.com:smtp"}, "smarthost"},
		{"smarthost host invalid", []any{"smarthost", "smtp example.com:25"}, "smarthost"},
		{"smarthost as a URL", []any{"smarthost", "smtp://smtp.example.com:25"}, "smarthost"},
		{"from missing", []any{"from", nil}, "from"},
		{"from not an address", []any{"from", "alerts"}, "from"},
		{"from with a line break", []any{"from", "a@example.com\r\nBcc: x@example.net"}, "from"},
		{"from non-ASCII", []any{"from", "alértes@example.com"}, "from"},
		{"to missing", []any{"to", nil}, "to"},
		{"to empty", []any{"to", []string{}}, "to"},
		{"to with a bad address", []any{"to", []string{"a@example.com", "nobody"}}, "to[1]"},
		{"to too long", []any{"to", []string{strings.Repeat("a", 250) + "@example.com"}}, "to[0]"},
		{"password without username", []any{"auth_password", "example-pw"}, "auth_username"},
		{"username without password", []any{"auth_username", "u"}, "auth_password"},
		{"identity without username", []any{"auth_identity", "u"}, "auth_username"},
		{"username with a line break", []any{"auth_username", "u\r\nMAIL", "auth_password", "example-pw"}, "auth_username"},
		{"cert without key", []any{"tls", map[string]any{"cert_file": "/c.pem"}}, "tls.key_file"},
		{"key without cert", []any{"tls", map[string]any{"key_file": "/k.pem"}}, "tls.cert_file"},
		{"server name invalid", []any{"tls", map[string]any{"server_name": "not a name"}}, "tls.server_name"},
		{"url", []any{"url", "https://smtp.example.com"}, "url"},
		{"headers", []any{"headers", map[string]string{"X-A": "b"}}, "headers"},
		{"http_config", []any{"http_config", map[string]any{}}, "http_config"},
		{"insecure_skip_verify", []any{"tls", map[string]any{"insecure_skip_verify": true}}, "!"},
		{"unknown field", []any{"smtp_host", "x"}, "!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := valid()
			for i := 0; i < len(tc.set); i += 2 {
				if tc.set[i+1] == nil {
					delete(obj, tc.set[i].(string))
				} else {
					obj[tc.set[i].(string)] = tc.set[i+1]
				}
			}
			js, _ := json.Marshal(obj)
			tg, err := target.ParseOne(js, "test")
			var fe *target.FieldError
			var pe *target.ParseError
			switch {
			case tc.field == "":
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if _, ok := tg.Config.(*email.Config); !ok {
					t.Fatalf("Config = %T", tg.Config)
				}
			case tc.field == "!":
				if !errors.As(err, &pe) {
					t.Fatalf("want a malformed-object error, got %v", err)
				}
			default:
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("want a FieldError on %s, got %v", tc.field, err)
				}
			}
		})
	}
}

// TestKind: no url and no default one; the public view shows the
// smarthost and no credential; the limiter key is per smarthost and user,
// hashed.
func TestKind(t *testing.T) {
	if email.Provider.DefaultURL() != "" {
		t.Error("DefaultURL must be empty")
	}
	if o, ok := email.Provider.(target.URLOptional); !ok || !o.URLOptional() {
		t.Error("the email type must be URLOptional")
	}
	parse := func(set ...any) target.Target {
		obj := valid()
		for i := 0; i < len(set); i += 2 {
			obj[set[i].(string)] = set[i+1]
		}
		js, _ := json.Marshal(obj)
		tg, err := target.ParseOne(js, "test")
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	a := parse("auth_username", "team-a@example.com", "auth_password", "example-pw-a")
	a2 := parse("name", "ops-mail-2", "auth_username", "team-a@example.com", "auth_password", "example-pw-a")
	b := parse("auth_username", "team-b@example.com", "auth_password", "example-pw-b")
	none := parse()
	ka, ka2, kb := email.Provider.LimiterKey(a), email.Provider.LimiterKey(a2), email.Provider.LimiterKey(b)
	if ka == "" || ka != ka2 || ka == kb || strings.Contains(ka, "team-a") || email.Provider.LimiterKey(none) != "" {
		t.Errorf("limiter keys: a %q a2 %q b %q none %q", ka, ka2, kb, email.Provider.LimiterKey(none))
	}
	if got := a.Secrets(); len(got) != 1 || got[0] != "example-pw-a" {
		t.Errorf("Secrets() = %v", got)
	}
	pub, _ := json.Marshal(a.Public())
	if strings.Contains(string(pub), "example-pw-a") || !strings.Contains(string(pub), `"url":"smtp://smtp.example.com:587"`) {
		t.Errorf("public view %s", pub)
	}
	// The target object written back reads the same.
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := target.ParseOne(js, "test")
	if err != nil || !reflect.DeepEqual(back.Config, a.Config) {
		t.Errorf("round trip of %s: %+v (%v), want %+v", js, back.Config, err, a.Config)
	}
	insecure := parse("require_tls", false, "smarthost", "smtp.example.com:465")
	if p := insecure.Public(); p.URL != "smtps://smtp.example.com:465" || len(p.Warnings) != 1 {
		t.Errorf("public view %+v, want smtps and a warning", p)
	}
}
