package workflows

import (
	"fmt"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Custom search attributes of alert workflows, for filtering in the Temporal
// Web UI and `temporal workflow list --query`.
var (
	AttrAlertName   = temporal.NewSearchAttributeKeyKeyword("HeraldAlertName")
	AttrSeverity    = temporal.NewSearchAttributeKeyKeyword("HeraldSeverity")
	AttrStatus      = temporal.NewSearchAttributeKeyKeyword("HeraldStatus")
	AttrFingerprint = temporal.NewSearchAttributeKeyKeyword("HeraldFingerprint")
	AttrTargets     = temporal.NewSearchAttributeKeyKeywordList("HeraldTargets")
)

// SearchAttributes lists the custom search attributes Herald needs
// registered in its namespace, with their types.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	AttrAlertName.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrSeverity.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrStatus.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrFingerprint.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrTargets.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

// Bounds of search attribute values, well inside the server's default limit
// of 2 KB per value (a KeywordList counts as one value).
const (
	maxKeywordBytes     = 256
	maxKeywordListBytes = 1536
)

// boundKeyword cuts s to maxKeywordBytes on a UTF-8 boundary, marking the
// cut with "…".
func boundKeyword(s string) string {
	if len(s) <= maxKeywordBytes {
		return s
	}
	const mark = "…"
	cut := maxKeywordBytes - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// boundKeywordList keeps the leading values of list (each bounded) while
// their JSON encoding fits maxKeywordListBytes; the rest are summarised as
// one "+N more" value, so a filter on any of the kept names still works.
func boundKeywordList(list []string) []string {
	out := make([]string, 0, len(list))
	size := 2 // []
	for i, v := range list {
		v = boundKeyword(v)
		cost := len(v) + 3 // quotes and comma
		if size+cost > maxKeywordListBytes-16 {
			return append(out, fmt.Sprintf("+%d more", len(list)-i))
		}
		size += cost
		out = append(out, v)
	}
	return out
}
