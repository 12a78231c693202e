package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBoundSearchAttributes(t *testing.T) {
	names := make([]string, 200)
	for i := range names {
		names[i] = strings.Repeat("t", 50) + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
	}
	got := BoundKeywordList(names)
	data, _ := json.Marshal(got)
	if len(data) > 2048-256 {
		t.Errorf("HeraldTargets encodes to %d bytes, want well under the 2 KB value limit", len(data))
	}
	if got[0] != names[0] || !strings.HasPrefix(got[len(got)-1], "+") || !strings.HasSuffix(got[len(got)-1], " more") {
		t.Errorf("bounded list = %v…%v", got[0], got[len(got)-1])
	}
	if short := []string{"a", "b"}; strings.Join(BoundKeywordList(short), ",") != "a,b" {
		t.Error("short lists must stay as they are")
	}
	long := strings.Repeat("é", 2000)
	b := BoundKeyword(long)
	if len(b) > maxKeywordBytes || !strings.HasSuffix(b, "…") || !utf8.ValidString(b) {
		t.Errorf("bounded keyword: %d bytes, valid=%v", len(b), utf8.ValidString(b))
	}
}
