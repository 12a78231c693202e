package contract

import (
	"fmt"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/alert"
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

// Bounds of search attribute values: a keyword fits the SQL visibility
// column (VARCHAR(255)), and every value stays well inside the server's
// default limit of 2 KB (a KeywordList counts as one value). The starter
// and the alert workflow bound values the same way, so the workflow never
// rewrites a value the starter set.
const (
	maxKeywordBytes     = 255
	maxKeywordListBytes = 1536
)

// BoundKeyword cuts s to maxKeywordBytes on a UTF-8 boundary, marking the
// cut with "…".
func BoundKeyword(s string) string {
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

// BoundKeywordList keeps the leading values of list (each bounded) while
// their JSON encoding fits maxKeywordListBytes; the rest are summarised as
// one "+N more" value, so a filter on any of the kept names still works.
func BoundKeywordList(list []string) []string {
	out := make([]string, 0, len(list))
	size := 2 // []
	for i, v := range list {
		v = BoundKeyword(v)
		cost := len(v) + 3 // quotes and comma
		if size+cost > maxKeywordListBytes-16 {
			return append(out, fmt.Sprintf("+%d more", len(list)-i))
		}
		size += cost
		out = append(out, v)
	}
	return out
}

// PriorityFor maps a severity to a Temporal priority key (1 runs first):
// critical 1, warning 3, info 5. The starter gives it to an alert
// workflow, the workflow to its delivery activities.
func PriorityFor(severity string) int {
	switch severity {
	case alert.SeverityCritical:
		return 1
	case alert.SeverityInfo:
		return 5
	default:
		return 3
	}
}
