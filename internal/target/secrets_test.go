package target_test

import (
	"encoding/base64"
	"slices"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// TestRequestSecrets: every credential a request carries, in the forms the
// request carries it.
func TestRequestSecrets(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("am-user:am-pass-5e6f"))
	for _, tc := range []struct {
		name    string
		url     string
		headers map[string]string
		want    []string
	}{
		{name: "bearer header", headers: map[string]string{"Authorization": "Bearer tok-1234567"},
			want: []string{"Bearer tok-1234567", "tok-1234567"}},
		{name: "basic header decoded", headers: map[string]string{"Authorization": "Basic " + basic},
			want: []string{"Basic " + basic, basic, "am-user:am-pass-5e6f", "am-pass-5e6f"}},
		{name: "user info as sent (basic auth)", url: "https://am-user:am-pass-5e6f@am.example.com",
			want: []string{"am-user:am-pass-5e6f", "am-pass-5e6f", basic}},
		{name: "path, query and query values", url: "https://x.example.com/hook/T0K3N?sig=S1GNATURE&x=1",
			want: []string{"/hook/T0K3N", "sig=S1GNATURE&x=1", "S1GNATURE"}},
		{name: "escaped path as sent", url: "https://x.example.com/a%2Fb/TOKEN",
			want: []string{"/a/b/TOKEN", "/a%2Fb/TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := target.RequestSecrets(tc.url, tc.headers)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("RequestSecrets = %q, want it to hold %q", got, w)
				}
			}
			for _, s := range got {
				if len(s) < 4 {
					t.Errorf("secret %q is shorter than 4 bytes", s)
				}
			}
		})
	}
	tg := target.Target{Name: "am", Type: "alertmanager", URL: "https://am-user:am-pass-5e6f@am.example.com"}
	if !slices.Contains(tg.Secrets(), basic) {
		t.Errorf("Secrets() = %q, want the basic auth credential %q", tg.Secrets(), basic)
	}
}
