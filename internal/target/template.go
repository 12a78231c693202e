package target

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// TemplateFuncs are the functions a target's title and body templates may
// call (documented in docs/targets.md): Herald's own and Alertmanager's
// (template_funcs.go). Validation parses templates with them, and
// rendering executes with BudgetedFuncs (the same functions, with their
// work charged to the execution's budget), so a template that validates
// also renders. These charge nothing.
var TemplateFuncs = templateFuncs(unlimited{})

// stepFunc is the function ParseTemplate calls before every action, if,
// with and range, and at the start of every range iteration, with the
// size of what is evaluated there. Executed without BudgetedFuncs, it does
// nothing.
const stepFunc = "_step"

// Budget is what one execution of a target template may spend; its
// methods return an error once it is spent, and text/template stops the
// execution at the function call that got the error.
type Budget interface {
	// Step charges n steps: nodes evaluated, range iterations, writes.
	Step(n int) error
	// Built charges a string of n bytes that a function built.
	Built(n int) error
}

// BudgetedFuncs returns TemplateFuncs, the string-building built-ins of
// text/template (printf, print, println, html, js, urlquery) and the step
// function ParseTemplate inserts, each charging b: the step function its
// steps, the others a step per call, the length of what they return, and
// the work of what they read or match (see templateFuncs). Each single
// call is bounded by its arguments (fmt caps widths and precisions at
// 10^6; regexps, join and reReplaceAll have their own bounds), so
// charging around the call bounds the total.
func BudgetedFuncs(b Budget) template.FuncMap {
	built := func(r string) (string, error) {
		if err := b.Step(1); err != nil {
			return "", err
		}
		return r, b.Built(len(r))
	}
	variadic := func(f func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) { return built(f(args...)) }
	}
	funcs := templateFuncs(b)
	funcs[stepFunc] = func(n int) (string, error) { return "", b.Step(max(n, 1)) }
	funcs["printf"] = func(format string, args ...any) (string, error) {
		return built(fmt.Sprintf(format, args...))
	}
	funcs["print"] = variadic(fmt.Sprint)
	funcs["println"] = variadic(fmt.Sprintln)
	funcs["html"] = variadic(template.HTMLEscaper)
	funcs["js"] = variadic(template.JSEscaper)
	funcs["urlquery"] = variadic(template.URLQueryEscaper)
	return funcs
}

// MaxRangeDepth is how deeply a target template may nest range loops.
const MaxRangeDepth = 3

// ErrTemplateNotAllowed marks a template that parses but uses a construct
// whose run time is not bounded by the alert (ParseTemplate wraps it).
var ErrTemplateNotAllowed = errors.New("not allowed in target templates")

// rangeData says what a range may run over (in error messages).
const rangeData = "a range may only run over the alert's lists and maps (.Labels, .Annotations, .LabelNames) or a variable holding one"

// ParseTemplate parses one template source with TemplateFuncs. A target
// template renders one alert, so constructs whose run time is not bounded
// by the alert are refused (errors wrap ErrTemplateNotAllowed):
// {{template}} calls and {{define}}/{{block}} (they can recurse), a range
// over anything but the alert's data (a number, a function's result, a
// pipeline: Go's text/template ranges over integers), and range loops
// nested deeper than MaxRangeDepth.
//
// The returned template also counts its own work: before every action,
// if, with and range, and at the start of every range iteration, it calls
// a step function with the size of what is evaluated there. It prints
// nothing and does nothing unless the template executes with
// BudgetedFuncs, which charge a Budget and stop the execution once it is
// spent, even in a loop that prints nothing (publish.Render does).
func ParseTemplate(name, src string) (*template.Template, error) {
	t, err := template.New(name).Funcs(TemplateFuncs).Funcs(template.FuncMap{stepFunc: noStep}).
		Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	if t.Tree != nil && t.Tree.Root != nil {
		if err := checkTree(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	for _, tt := range t.Templates() {
		if tt.Name() != name {
			return nil, fmt.Errorf("{{define %q}} is %w (nor is {{block}})", tt.Name(), ErrTemplateNotAllowed)
		}
	}
	if t.Tree != nil && t.Tree.Root != nil {
		m := &marker{name: name, steps: map[int]parse.Node{}}
		if err := m.list(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func noStep(int) string { return "" }

// TemplateProblem describes an error of ParseTemplate for a validation
// message: "does not parse: ..." or the refusal itself ("range over
// \"len .Summary\" is not allowed in target templates: ...").
func TemplateProblem(err error) string {
	if errors.Is(err, ErrTemplateNotAllowed) {
		return err.Error()
	}
	return "does not parse: " + err.Error()
}

// checkTree checks a template's tree until the set of variables known
// not to hold data stops growing: a later assignment ({{$x = ...}}) can
// change what an earlier range (run again by an enclosing loop) sees.
func checkTree(root *parse.ListNode) error {
	c := &checker{tainted: map[string]bool{}, numbers: map[string]bool{}}
	for {
		c.changed = false
		if err := c.list(root, scope{dot: true, vars: map[string]bool{"$": true}}, 0); err != nil {
			return err
		}
		if !c.changed {
			return nil
		}
	}
}

// checker walks a template tree and decides, for every range, whether it
// runs over the alert's data: dot at the top, a field of data, a variable
// declared from data, or an element of a range over data.
type checker struct {
	// tainted are variable names assigned ({{$x = ...}}) something that
	// is not data somewhere in the template.
	tainted map[string]bool
	// numbers are variable names declared or assigned a number literal
	// (for a clearer message).
	numbers map[string]bool
	changed bool
}

// scope is what is known at a point of the template: whether dot is data,
// and which visible variables hold data.
type scope struct {
	dot  bool
	vars map[string]bool
}

func (s scope) with(dot bool) scope {
	vars := make(map[string]bool, len(s.vars))
	for k, v := range s.vars {
		vars[k] = v
	}
	return scope{dot: dot, vars: vars}
}

func (c *checker) list(l *parse.ListNode, s scope, depth int) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := c.node(n, s, depth); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) node(n parse.Node, s scope, depth int) error {
	switch n := n.(type) {
	case *parse.ActionNode:
		c.pipe(n.Pipe, s, false)
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is %w", n.Name, ErrTemplateNotAllowed)
	case *parse.IfNode:
		inner := s.with(s.dot)
		c.pipe(n.Pipe, inner, false)
		if err := c.list(n.List, inner, depth); err != nil {
			return err
		}
		return c.list(n.ElseList, s.with(s.dot), depth)
	case *parse.WithNode:
		inner := s.with(s.dot)
		data := c.pipe(n.Pipe, inner, false)
		inner.dot = data
		if err := c.list(n.List, inner, depth); err != nil {
			return err
		}
		return c.list(n.ElseList, s.with(s.dot), depth)
	case *parse.RangeNode:
		if depth+1 > MaxRangeDepth {
			return fmt.Errorf("range loops nested deeper than %d are %w", MaxRangeDepth, ErrTemplateNotAllowed)
		}
		inner := s.with(s.dot)
		if !c.pipe(n.Pipe, inner, true) {
			if c.isNumber(n.Pipe) {
				return fmt.Errorf("range over a number is %w: %s", ErrTemplateNotAllowed, rangeData)
			}
			return fmt.Errorf("range over %q is %w: %s", rangeText(n.Pipe), ErrTemplateNotAllowed, rangeData)
		}
		inner.dot = true
		if err := c.list(n.List, inner, depth+1); err != nil {
			return err
		}
		return c.list(n.ElseList, s.with(s.dot), depth)
	}
	return nil
}

// pipe records the declarations and assignments of pipe (and of the
// parenthesized pipelines inside it) in s, and reports whether its value
// is data. In a range, the declared variables are the key and element of
// the data ranged over.
func (c *checker) pipe(p *parse.PipeNode, s scope, isRange bool) bool {
	if p == nil {
		return false
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			c.nested(arg, s)
		}
	}
	data := c.isData(p, s)
	for _, v := range p.Decl {
		name := v.Ident[0]
		declData := data
		if !isRange && c.isNumber(p) {
			if !c.numbers[name] {
				c.numbers[name], c.changed = true, true
			}
		}
		if p.IsAssign {
			if !declData && !c.tainted[name] {
				c.tainted[name], c.changed = true, true
			}
			if _, ok := s.vars[name]; ok {
				s.vars[name] = s.vars[name] && declData
			}
			continue
		}
		s.vars[name] = declData
	}
	return data
}

// nested handles the parenthesized pipelines inside an argument: they may
// declare or assign variables too.
func (c *checker) nested(n parse.Node, s scope) {
	switch n := n.(type) {
	case *parse.PipeNode:
		c.pipe(n, s, false)
	case *parse.ChainNode:
		c.nested(n.Node, s)
	}
}

// isData reports whether p's value is the alert's data: one command with
// one argument that is dot, a field, a variable or a chain of those.
func (c *checker) isData(p *parse.PipeNode, s scope) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	return c.isDataNode(p.Cmds[0].Args[0], s)
}

func (c *checker) isDataNode(n parse.Node, s scope) bool {
	switch n := n.(type) {
	case *parse.DotNode, *parse.FieldNode:
		return s.dot
	case *parse.VariableNode:
		name := n.Ident[0]
		return s.vars[name] && !c.tainted[name]
	case *parse.ChainNode:
		return c.isDataNode(n.Node, s)
	case *parse.PipeNode:
		return c.isData(n, s)
	}
	return false
}

// isNumber reports whether pipe ends in a number literal or a variable
// holding one.
func (c *checker) isNumber(pipe *parse.PipeNode) bool {
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
		return len(a.Ident) == 1 && c.numbers[a.Ident[0]]
	case *parse.PipeNode:
		return c.isNumber(a)
	}
	return false
}

// rangeText is the ranged-over expression of a range pipe, without its
// declarations.
func rangeText(p *parse.PipeNode) string {
	parts := make([]string, len(p.Cmds))
	for i, cmd := range p.Cmds {
		parts[i] = cmd.String()
	}
	return strings.Join(parts, " | ")
}

// marker inserts the step calls of ParseTemplate into a tree.
type marker struct {
	name  string
	steps map[int]parse.Node
}

// step returns a {{_step n}} action node (parsed, so that it is a node
// like any other).
func (m *marker) step(n int) (parse.Node, error) {
	if node, ok := m.steps[n]; ok {
		return node, nil
	}
	t, err := template.New(m.name).Funcs(template.FuncMap{stepFunc: noStep}).Parse(fmt.Sprintf("{{%s %d}}", stepFunc, n))
	if err != nil {
		return nil, err
	}
	node := t.Tree.Root.Nodes[0]
	m.steps[n] = node
	return node, nil
}

func (m *marker) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	nodes := make([]parse.Node, 0, 2*len(l.Nodes))
	for _, n := range l.Nodes {
		var pipe *parse.PipeNode
		switch n := n.(type) {
		case *parse.ActionNode:
			pipe = n.Pipe
		case *parse.IfNode:
			pipe = n.Pipe
			if err := m.branches(n.List, n.ElseList, false); err != nil {
				return err
			}
		case *parse.WithNode:
			pipe = n.Pipe
			if err := m.branches(n.List, n.ElseList, false); err != nil {
				return err
			}
		case *parse.RangeNode:
			pipe = n.Pipe
			if err := m.branches(n.List, n.ElseList, true); err != nil {
				return err
			}
		default:
			nodes = append(nodes, n)
			continue
		}
		step, err := m.step(1 + size(pipe))
		if err != nil {
			return err
		}
		nodes = append(nodes, step, n)
	}
	l.Nodes = nodes
	return nil
}

// branches marks the lists of an if, with or range; a range's body
// starts with one step per iteration.
func (m *marker) branches(list, elseList *parse.ListNode, iterations bool) error {
	if err := m.list(list); err != nil {
		return err
	}
	if iterations && list != nil {
		step, err := m.step(1)
		if err != nil {
			return err
		}
		list.Nodes = append([]parse.Node{step}, list.Nodes...)
	}
	return m.list(elseList)
}

// size counts the nodes of a pipeline: commands, arguments, and the
// nodes of parenthesized pipelines inside it.
func size(n parse.Node) int {
	switch n := n.(type) {
	case *parse.PipeNode:
		if n == nil {
			return 0
		}
		c := len(n.Decl)
		for _, cmd := range n.Cmds {
			c += size(cmd)
		}
		return c
	case *parse.CommandNode:
		c := 1
		for _, a := range n.Args {
			c += size(a)
		}
		return c
	case *parse.ChainNode:
		return len(n.Field) + size(n.Node)
	}
	return 1
}
