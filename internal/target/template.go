package target

import (
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// TemplateFuncs are the functions a target's title and body templates may
// call (documented in docs/targets.md). Validation parses templates with
// them, and rendering executes with them, so a template that validates
// also renders.
var TemplateFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
	"title": titleCase,
}

// titleCase upper-cases the first character of s (a whole rune, so
// multi-byte text stays valid UTF-8).
func titleCase(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// ParseTemplate parses one template source with TemplateFuncs.
func ParseTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Funcs(TemplateFuncs).Option("missingkey=zero").Parse(src)
}
