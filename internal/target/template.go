package target

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
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

// MaxRangeDepth is how deeply a target template may nest range loops.
const MaxRangeDepth = 3

// ParseTemplate parses one template source with TemplateFuncs. A target
// template renders one alert, so constructs whose run time is not bounded
// by the alert's size are refused: {{template}} calls (which can recurse),
// range over a number, and range loops nested deeper than MaxRangeDepth.
func ParseTemplate(name, src string) (*template.Template, error) {
	t, err := template.New(name).Funcs(TemplateFuncs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		numbers := map[string]bool{}
		numberVars(tt.Tree.Root, numbers)
		if err := checkBounded(tt.Tree.Root, 0, numbers); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// numberVars collects the variables a template sets to a number literal.
func numberVars(n parse.Node, out map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			numberVars(c, out)
		}
	case *parse.ActionNode:
		if p := n.Pipe; p != nil && len(p.Decl) > 0 && isNumber(p, nil) {
			for _, v := range p.Decl {
				out[v.Ident[0]] = true
			}
		}
	case *parse.RangeNode:
		numberVars(n.List, out)
		numberVars(n.ElseList, out)
	case *parse.IfNode:
		numberVars(n.List, out)
		numberVars(n.ElseList, out)
	case *parse.WithNode:
		numberVars(n.List, out)
		numberVars(n.ElseList, out)
	}
}

// isNumber reports whether pipe ends in a number literal or a variable
// holding one.
func isNumber(pipe *parse.PipeNode, vars map[string]bool) bool {
	if pipe == nil || len(pipe.Cmds) == 0 {
		return false
	}
	args := pipe.Cmds[len(pipe.Cmds)-1].Args
	if len(args) != 1 {
		return false
	}
	switch a := args[0].(type) {
	case *parse.NumberNode:
		return true
	case *parse.VariableNode:
		return len(a.Ident) == 1 && vars[a.Ident[0]]
	case *parse.PipeNode:
		return isNumber(a, vars)
	}
	return false
}

func checkBounded(n parse.Node, depth int, numbers map[string]bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkBounded(c, depth, numbers); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not supported in target templates", n.Name)
	case *parse.RangeNode:
		if depth+1 > MaxRangeDepth {
			return fmt.Errorf("range loops nested deeper than %d are not supported", MaxRangeDepth)
		}
		if isNumber(n.Pipe, numbers) {
			return fmt.Errorf("range over a number is not supported")
		}
		if err := checkBounded(n.List, depth+1, numbers); err != nil {
			return err
		}
		return checkBounded(n.ElseList, depth, numbers)
	case *parse.IfNode:
		if err := checkBounded(n.List, depth, numbers); err != nil {
			return err
		}
		return checkBounded(n.ElseList, depth, numbers)
	case *parse.WithNode:
		if err := checkBounded(n.List, depth, numbers); err != nil {
			return err
		}
		return checkBounded(n.ElseList, depth, numbers)
	}
	return nil
}
