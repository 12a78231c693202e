package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// ParseList decodes a JSON or YAML list of target objects (the targets file
// format). Every target is validated; the returned problems name each entry
// that was skipped. origin prefixes the Origin of each target ("file:x.yaml").
func ParseList(data []byte, origin string) ([]Target, []Problem, error) {
	js, err := toJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not valid JSON or YAML: %w", origin, err)
	}
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, nil, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(js, &raws); err != nil {
		return nil, nil, fmt.Errorf("%s: want a list of target objects: %w", origin, err)
	}
	var (
		out      []Target
		problems []Problem
		seen     = map[string]string{}
	)
	for i, raw := range raws {
		where := fmt.Sprintf("%s#%d", origin, i)
		t, err := ParseOne(raw, where)
		if err != nil {
			problems = append(problems, problemFor(where, t.Name, err))
			continue
		}
		if prev, dup := seen[t.Name]; dup {
			problems = append(problems, Problem{Origin: where, Target: t.Name, Reason: "duplicate_name",
				Message: fmt.Sprintf("target name %q is already defined by %s; this definition is ignored", t.Name, prev)})
			continue
		}
		seen[t.Name] = where
		out = append(out, t)
	}
	return out, problems, nil
}

// ParseOne decodes and validates one target object (JSON or YAML).
func ParseOne(data []byte, origin string) (Target, error) { return parseOne(data, origin, false) }

// ParseTenant is ParseOne for an object a tenant wrote (a Kubernetes
// Secret): it is validated as the tenant's (no files in http_config), and
// the target is marked FromTenant.
func ParseTenant(data []byte, origin string) (Target, error) { return parseOne(data, origin, true) }

func parseOne(data []byte, origin string, tenant bool) (Target, error) {
	js, err := toJSON(data)
	if err != nil {
		return Target{}, &ParseError{Msg: err.Error()}
	}
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return Target{}, &ParseError{Msg: "empty document, want a target object"}
	}
	t, err := decode(js)
	if err != nil {
		// Keep the name for the report if it is readable.
		var named struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(js, &named)
		t.Name = named.Name
		return t, &ParseError{Msg: err.Error()}
	}
	t.Origin = origin
	t.Scope.Tenant = tenant
	if err := t.Validate(); err != nil {
		return t, err
	}
	return t, nil
}

// decode reads a target object: the common fields into Target, and the
// fields of a type with a config of its own (ConfigKind) into that config.
// A field known to neither is an error.
func decode(js []byte) (Target, error) {
	var t Target
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil {
		return t, err
	}
	// Keys match fields case-insensitively, as encoding/json matches them.
	var typ string
	if k, ok := fieldKey(fields, "type"); ok {
		_ = json.Unmarshal(fields[k], &typ)
	}
	kind, _ := KindOf(typ)
	ck, hasConfig := kind.(ConfigKind)
	httpKey, hasHTTP := fieldKey(fields, HTTPConfigField)
	if !hasConfig && !hasHTTP {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		return t, dec.Decode(&t)
	}
	httpRaw := fields[httpKey]
	delete(fields, httpKey)
	common, own := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, v := range fields {
		if commonFields[strings.ToLower(k)] || !hasConfig {
			common[k] = v
		} else {
			own[k] = v
		}
	}
	if err := strictDecodeFields(common, &t); err != nil {
		return t, err
	}
	if hasConfig {
		cfg := ck.NewConfig()
		if err := strictDecodeFields(own, cfg); err != nil {
			return t, err
		}
		t.Config = cfg
	}
	if hasHTTP {
		hc, err := decodeHTTPConfig(httpRaw)
		if err != nil {
			return t, err
		}
		t.HTTPConfig = hc
	}
	return t, nil
}

// fieldKey finds the key of the object's field name: the exact key, else
// the first (in sorted order) that equals it ignoring case.
func fieldKey(fields map[string]json.RawMessage, name string) (string, bool) {
	if _, ok := fields[name]; ok {
		return name, true
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Strings(keys)
	return keys[0], true
}

// commonFields are the JSON names of Target's own fields (lower case).
var commonFields = func() map[string]bool {
	m := map[string]bool{}
	rt := reflect.TypeOf(Target{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[strings.ToLower(name)] = true
		}
	}
	return m
}()

func strictDecodeFields(fields map[string]json.RawMessage, into any) error {
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return strictDecode(b, into)
}

func strictDecode(b []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// toJSON converts YAML to JSON. Input that already is a JSON object or list
// is passed through: converting it through YAML costs far more than decoding.
// Anything after the first document is an error rather than silently
// dropped (YAMLToJSON alone would keep the first of two objects).
func toJSON(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		return trimmed, nil
	}
	if err := singleDocument(data); err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(js), nil
}

func singleDocument(data []byte) error {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	docs := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if v != nil {
			docs++
		}
		if docs > 1 {
			return errors.New("more than one document (one target object per Secret, one list per file)")
		}
	}
}

// ParseError is a target definition that is not a well-formed object.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return "malformed target object: " + e.Msg }

func problemFor(origin, name string, err error) Problem {
	reason := "invalid_target"
	var pe *ParseError
	if errors.As(err, &pe) {
		reason = "invalid_json"
	}
	return Problem{Origin: origin, Target: name, Reason: reason, Message: err.Error()}
}

// ProblemFor classifies an error from ParseOne into a Problem.
func ProblemFor(origin, name string, err error) Problem { return problemFor(origin, name, err) }
