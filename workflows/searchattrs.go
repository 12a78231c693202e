package workflows

import (
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
