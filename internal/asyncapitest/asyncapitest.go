// Package asyncapitest checks real messages against an AsyncAPI 3.0 document (events/asyncapi.yaml), so
// a test proves that the published event contract is the one the producers speak: the payload against
// the message's payload schema, the message attributes against its headers schema, and each attribute
// against the envelope field it repeats.
package asyncapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v4"
)

// docURL names the document inside the schema compiler; nothing is ever fetched from it.
const docURL = "urn:b2b-backoffice:asyncapi"

// Contract is an AsyncAPI document whose messages real ones are checked against.
type Contract struct {
	doc      map[string]any
	messages map[string]*messageSchemas // by message name: the event type

	mu      sync.Mutex
	covered map[string]bool
}

type messageSchemas struct {
	payload, headers *jsonschema.Schema
	// envelopeField maps an attribute to the envelope field it repeats (x-envelope-field).
	envelopeField map[string]string
}

// Load parses spec and fails t at once unless it is an AsyncAPI 3.0 document whose references all
// resolve, whose operations send or receive messages of their own channel, and whose every message has
// a name and compiling payload and headers schemas (JSON Schema draft 7, formats asserted).
func Load(t testing.TB, spec []byte) *Contract {
	t.Helper()
	c, err := parse(spec)
	if err != nil {
		t.Fatalf("asyncapi: %v", err)
	}
	return c
}

func parse(spec []byte) (*Contract, error) {
	var raw any
	if err := yaml.Unmarshal(spec, &raw); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	// Through JSON, so the document has exactly the types a JSON Schema validator expects.
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %w", err)
	}
	docAny, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	doc, ok := docAny.(map[string]any)
	if !ok {
		return nil, errors.New("the document is not a mapping")
	}
	if v, _ := doc["asyncapi"].(string); !strings.HasPrefix(v, "3.0.") {
		return nil, fmt.Errorf(`asyncapi version %q, want "3.0.x"`, v)
	}
	if err := checkRefs(doc, doc, "#"); err != nil {
		return nil, err
	}
	if err := checkOperations(doc); err != nil {
		return nil, err
	}

	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft7)
	comp.AssertFormat()
	if err := comp.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	c := &Contract{doc: doc, messages: map[string]*messageSchemas{}, covered: map[string]bool{}}
	msgs, _ := lookup(doc, "#/components/messages").(map[string]any)
	if len(msgs) == 0 {
		return nil, errors.New("no components.messages")
	}
	for id, m := range msgs {
		mm, _ := m.(map[string]any)
		name, _ := mm["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("message %s has no name", id)
		}
		if _, dup := c.messages[name]; dup {
			return nil, fmt.Errorf("two messages are named %s", name)
		}
		ms := &messageSchemas{envelopeField: map[string]string{}}
		for part, dst := range map[string]**jsonschema.Schema{"payload": &ms.payload, "headers": &ms.headers} {
			if mm[part] == nil {
				return nil, fmt.Errorf("message %s has no %s", id, part)
			}
			s, err := comp.Compile(docURL + "#/components/messages/" + id + "/" + part)
			if err != nil {
				return nil, fmt.Errorf("message %s %s: %w", id, part, err)
			}
			*dst = s
		}
		collectEnvelopeFields(doc, mm["headers"], ms.envelopeField, 0)
		c.messages[name] = ms
	}
	return c, nil
}

// Validate checks one message: payload is the body (an event envelope), attrs its message attributes.
// The message is chosen by the envelope's type; a type the document does not describe is an error.
func (c *Contract) Validate(payload []byte, attrs map[string]string) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("payload is not JSON: %w", err)
	}
	env, _ := v.(map[string]any)
	typ, _ := env["type"].(string)
	m := c.messages[typ]
	if m == nil {
		return fmt.Errorf("no message of the document is named %q (the payload's type)", typ)
	}
	var errs []error
	if err := m.payload.Validate(v); err != nil {
		errs = append(errs, fmt.Errorf("payload of %s: %w", typ, err))
	}
	headers := make(map[string]any, len(attrs))
	for k, v := range attrs {
		headers[k] = v
	}
	if err := m.headers.Validate(headers); err != nil {
		errs = append(errs, fmt.Errorf("attributes of %s: %w", typ, err))
	}
	for attr, field := range m.envelopeField {
		got, present := attrs[attr]
		want := ""
		if fv, ok := env[field]; ok && fv != nil {
			want = fmt.Sprint(fv) // json.Number and strings print as written
		}
		switch {
		case present && got != want:
			errs = append(errs, fmt.Errorf("attribute %s is %q, but the envelope's %s is %q", attr, got, field, want))
		case !present && want != "":
			errs = append(errs, fmt.Errorf("attribute %s is missing; the envelope's %s is %q", attr, field, want))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.mu.Lock()
	c.covered[typ] = true
	c.mu.Unlock()
	return nil
}

// Messages returns the names of the document's messages, sorted.
func (c *Contract) Messages() []string {
	var out []string
	for name := range c.messages {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Uncovered returns the messages no valid message was checked against yet, so a test can assert that
// real traffic covered the whole document.
func (c *Contract) Uncovered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, name := range c.Messages() {
		if !c.covered[name] {
			out = append(out, name)
		}
	}
	return out
}

// lookup resolves a local reference ("#/a/b", "#/a/0") in doc, or returns nil.
func lookup(doc map[string]any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = c[tok]; !ok {
				return nil
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// checkRefs fails on the first $ref that does not resolve inside the document.
func checkRefs(doc map[string]any, v any, at string) error {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && lookup(doc, ref) == nil {
			return fmt.Errorf("%s: $ref %q does not resolve in the document", at, ref)
		}
		for k, e := range v {
			if err := checkRefs(doc, e, at+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := checkRefs(doc, e, fmt.Sprintf("%s/%d", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOperations: every operation sends or receives on a channel of the document, and its messages are
// messages of that channel (AsyncAPI 3.0 requires it).
func checkOperations(doc map[string]any) error {
	ops, _ := doc["operations"].(map[string]any)
	if len(ops) == 0 {
		return errors.New("no operations")
	}
	for id, o := range ops {
		op, _ := o.(map[string]any)
		if a := op["action"]; a != "send" && a != "receive" {
			return fmt.Errorf("operation %s: action %v, want send or receive", id, a)
		}
		ch, _ := op["channel"].(map[string]any)
		chRef, _ := ch["$ref"].(string)
		if !strings.HasPrefix(chRef, "#/channels/") {
			return fmt.Errorf("operation %s: channel %v is not a channel of the document", id, op["channel"])
		}
		msgs, _ := op["messages"].([]any)
		if len(msgs) == 0 {
			return fmt.Errorf("operation %s: no messages", id)
		}
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			if ref, _ := mm["$ref"].(string); !strings.HasPrefix(ref, chRef+"/messages/") {
				return fmt.Errorf("operation %s: message %v is not one of its channel %s", id, m, chRef)
			}
		}
	}
	return nil
}

// collectEnvelopeFields finds the x-envelope-field of every attribute a headers schema describes,
// following references and allOf.
func collectEnvelopeFields(doc map[string]any, v any, out map[string]string, depth int) {
	s, _ := v.(map[string]any)
	if s == nil || depth > 16 {
		return
	}
	if ref, ok := s["$ref"].(string); ok {
		collectEnvelopeFields(doc, lookup(doc, ref), out, depth+1)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, e := range all {
			collectEnvelopeFields(doc, e, out, depth+1)
		}
	}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		if pm, ok := p.(map[string]any); ok {
			if f, ok := pm["x-envelope-field"].(string); ok {
				out[name] = f
			}
		}
	}
}
