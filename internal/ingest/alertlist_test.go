package ingest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/temporalio/sqlparser"

	"github.com/herald-alerts/herald/internal/contract"
)

// clause is one "attribute = 'value'" of a parsed visibility query, or
// one "attribute IN ('a', 'b')" (value "a|b").
type clause struct{ attr, value string }

// alertTypes is the clause that selects alert workflows of every type.
var alertTypes = clause{"WorkflowType", strings.Join(contract.AlertWorkflowTypes, "|")}

// parseVisibilityQuery parses query the way Temporal's SQL visibility
// converter does and returns its clauses; it fails unless the query is a
// plain AND of attribute = string comparisons.
func parseVisibilityQuery(t *testing.T, query string) []clause {
	t.Helper()
	stmt, err := sqlparser.Parse("select * from table1 where " + query)
	if err != nil {
		t.Fatalf("query %q does not parse: %v", query, err)
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok || sel.Where == nil {
		t.Fatalf("query %q: not a select with a where clause", query)
	}
	var out []clause
	var walk func(e sqlparser.Expr)
	walk = func(e sqlparser.Expr) {
		switch e := e.(type) {
		case *sqlparser.AndExpr:
			walk(e.Left)
			walk(e.Right)
		case *sqlparser.ComparisonExpr:
			if tuple, ok := e.Right.(sqlparser.ValTuple); ok && e.Operator == sqlparser.InStr {
				col, _ := e.Left.(*sqlparser.ColName)
				var vals []string
				for _, v := range tuple {
					sv, ok := v.(*sqlparser.SQLVal)
					if !ok || sv.Type != sqlparser.StrVal || col == nil {
						t.Fatalf("query %q: unexpected IN list %s", query, sqlparser.String(e))
					}
					vals = append(vals, string(sv.Val))
				}
				out = append(out, clause{col.Name.String(), strings.Join(vals, "|")})
				return
			}
			col, cok := e.Left.(*sqlparser.ColName)
			val, vok := e.Right.(*sqlparser.SQLVal)
			if e.Operator != sqlparser.EqualStr || !cok || !vok || val.Type != sqlparser.StrVal || e.Escape != nil {
				t.Fatalf("query %q: unexpected comparison %s", query, sqlparser.String(e))
			}
			out = append(out, clause{col.Name.String(), string(val.Val)})
		default:
			t.Fatalf("query %q: unexpected expression %T %s", query, e, sqlparser.String(e))
		}
	}
	walk(sel.Where.Expr)
	return out
}

func TestAlertListQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []clause
		limit int
		err   string
	}{
		{"no filter", "", []clause{alertTypes}, 100, ""},
		{"every filter", "status=firing&severity=critical&name=HighLatency&target=team-a&fingerprint=abc123&limit=5",
			[]clause{alertTypes, {"HeraldAlertName", "HighLatency"},
				{"HeraldSeverity", "critical"}, {"HeraldStatus", "firing"}, {"HeraldTargets", "team-a"},
				{"HeraldFingerprint", "abc123"}}, 5, ""},
		{"allowed punctuation", "name=job:rate5m/x_y.z-1", []clause{alertTypes,
			{"HeraldAlertName", "job:rate5m/x_y.z-1"}}, 100, ""},
		{"quote injection", "name=" + url.QueryEscape(`x' OR 'a'='a`), nil, 0, "name: 1-200 letters"},
		{"double quote injection", "status=" + url.QueryEscape(`x" OR WorkflowType != "y`), nil, 0, "status: 1-200"},
		{"backslash", "target=" + url.QueryEscape(`a\`), nil, 0, "target:"},
		{"too long", "fingerprint=" + strings.Repeat("a", 201), nil, 0, "fingerprint:"},
		{"limit zero", "limit=0", nil, 0, "limit must be 1-1000"},
		{"limit too high", "limit=1001", nil, 0, "limit must be 1-1000"},
		{"limit not a number", "limit=ten", nil, 0, "limit must be 1-1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			query, limit, err := alertListQuery(q)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.limit, limit)
			assert.Equal(t, tc.want, parseVisibilityQuery(t, query))
		})
	}
}

func TestAlertListBadFilterIs400(t *testing.T) {
	s := newTestServer(t, Config{})
	rec := s.do(t, http.MethodGet, "/api/v1/alerts?name="+url.QueryEscape(`a' OR 'b`), nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	rec = s.do(t, http.MethodGet, "/api/v1/alerts?status=firing", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	contains(t, rec.Body.String(), `HeraldStatus = 'firing'`)
}

func TestQuoteQueryValue(t *testing.T) {
	for _, v := range []string{"", "plain", `it's`, `back\slash`, `\'`, `'; DROP`, "x\x00y", "\"", "é\n\t"} {
		got := parseVisibilityQuery(t, "A = "+quoteQueryValue(v))
		assert.Equal(t, []clause{{"A", v}}, got, "value %q", v)
	}
}

// FuzzAlertListQuery: whatever the filter values, an accepted query is
// exactly the AND of one comparison per given filter with that value, and
// quoting any string gives back that string.
func FuzzAlertListQuery(f *testing.F) {
	f.Add("HighLatency", "critical", "firing", "team-a", "abc123", "10")
	f.Add(`x' OR 'a'='a`, `"`, `\`, "a b", "", "")
	f.Add("job:rate5m/x", "", "", "", "", "1000")
	f.Add("é", "\x00", "'", `\'`, "ok", "-1")
	f.Fuzz(func(t *testing.T, name, severity, status, target, fingerprint, limit string) {
		for _, v := range []string{name, severity, status, target, fingerprint} {
			if got := parseVisibilityQuery(t, "A = "+quoteQueryValue(v)); len(got) != 1 || got[0].value != v {
				t.Fatalf("quoted %q parses as %v", v, got)
			}
		}
		q := url.Values{}
		set := map[string]string{"name": name, "severity": severity, "status": status, "target": target,
			"fingerprint": fingerprint, "limit": limit}
		for k, v := range set {
			q.Set(k, v)
		}
		query, n, err := alertListQuery(q)
		if err != nil {
			return
		}
		if n < 1 || n > 1000 {
			t.Fatalf("limit %d accepted", n)
		}
		want := []clause{alertTypes}
		for _, fl := range alertFilters {
			if v := set[fl.param]; v != "" {
				want = append(want, clause{fl.attr, v})
			}
		}
		got := parseVisibilityQuery(t, query)
		if len(got) != len(want) {
			t.Fatalf("query %q has clauses %v, want %v", query, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("query %q has clauses %v, want %v", query, got, want)
			}
		}
	})
}

func TestPageTokens(t *testing.T) {
	const query = "WorkflowType = 'AlertWorkflow'"
	raw := []byte(`{"RunID":"r1"}`)
	good := encodePageToken(query, raw)
	for _, c := range []struct {
		name, query, token string
		want               []byte
		bad                bool
	}{
		{name: "none", query: query, token: ""},
		{name: "issued", query: query, token: good, want: raw},
		{name: "another query", query: query + " AND HeraldStatus = 'firing'", token: good, bad: true},
		{name: "cut short", query: query, token: good[:len(good)-2], bad: true},
		{name: "checksum only", query: query, token: good[:11], bad: true},
		{name: "not base64", query: query, token: "a*b", bad: true},
		{name: "too long", query: query, token: encodePageToken(query, make([]byte, maxPageToken)), bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodePageToken(c.query, c.token)
			if c.bad {
				assert.ErrorIs(t, err, errBadPageToken)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}
