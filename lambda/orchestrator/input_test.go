package orchestrator_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/b2b/backoffice/lambda/orchestrator"
)

// details returns the field: message pairs of an error answer.
func details(out map[string]any) map[string]string {
	e, _ := out["error"].(map[string]any)
	got := map[string]string{}
	for _, d := range asSlice(e["details"]) {
		m := d.(map[string]any)
		got[m["field"].(string)] = m["message"].(string)
	}
	return got
}

// TestValidationSaysWhatIsWrong: "is required" only for a field left out (or null); a field sent with a
// wrong value is told what is wrong with it.
func TestValidationSaysWhatIsWrong(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	const items = `"items":[{"product_id":1,"qty":1}]`
	keyRule := `must be 1 to 255 visible ASCII characters, and not "." or ".."`
	for _, tc := range []struct {
		name, body string
		want       map[string]string
	}{
		{"nothing", `{}`, map[string]string{"customer_id": "is required", "items": "is required", "idempotency_key": "is required"}},
		{"nulls", `{"customer_id":null,"items":null,"idempotency_key":null}`, map[string]string{"customer_id": "is required", "items": "is required", "idempotency_key": "is required"}},
		{"customer 0", `{"customer_id":0,` + items + `,"idempotency_key":"k"}`, map[string]string{"customer_id": "must be a positive integer"}},
		{"negative customer", `{"customer_id":-5,` + items + `,"idempotency_key":"k"}`, map[string]string{"customer_id": "must be a positive integer"}},
		{"no items", `{"customer_id":1,"items":[],"idempotency_key":"k"}`, map[string]string{"items": "must hold at least one item"}},
		{"300-character key", `{"customer_id":1,` + items + `,"idempotency_key":"` + strings.Repeat("k", 300) + `"}`, map[string]string{"idempotency_key": keyRule}},
		{"key with spaces", `{"customer_id":1,` + items + `,"idempotency_key":"my key"}`, map[string]string{"idempotency_key": keyRule}},
		{"empty key", `{"customer_id":1,` + items + `,"idempotency_key":""}`, map[string]string{"idempotency_key": keyRule}},
		{"dot key", `{"customer_id":1,` + items + `,"idempotency_key":".."}`, map[string]string{"idempotency_key": keyRule}},
		{"all wrong", `{"customer_id":0,"items":[{"product_id":0,"qty":1}],"idempotency_key":" "}`, map[string]string{"customer_id": "must be a positive integer", "items[0].product_id": "must be a positive integer", "idempotency_key": keyRule}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := call(t, h, orchestrator.Path, tc.body, nil)
			if e, _ := out["error"].(map[string]any); resp.StatusCode != 400 || e["code"] != "VALIDATION_FAILED" {
				t.Fatalf("got %d %v, want 400 VALIDATION_FAILED", resp.StatusCode, out)
			}
			if got := details(out); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got details %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBodyNotAnObject: a body that is JSON but not an object is INVALID_JSON, null as much as an array.
func TestBodyNotAnObject(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	for _, body := range []string{`null`, " null ", `[]`, `[{"customer_id":1}]`, `"x"`, `7`, `true`} {
		resp, out := call(t, h, orchestrator.Path, body, nil)
		if e, _ := out["error"].(map[string]any); resp.StatusCode != 400 || e["code"] != "INVALID_JSON" || out["success"] != false {
			t.Errorf("%q: got %d %v, want 400 INVALID_JSON", body, resp.StatusCode, out)
		}
	}
}

// TestItemFieldPaths: a wrong type or an unknown field inside the items is named by its indexed path,
// like the range checks; text encoding/json would alter is INVALID_JSON.
func TestItemFieldPaths(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	for _, tc := range []struct {
		body, code string
		want       map[string]string
	}{
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":"2"}],"idempotency_key":"k"}`, "VALIDATION_FAILED", map[string]string{"items[1].qty": "must be of type integer"}},
		{`{"customer_id":1,"items":[{"product_id":1.5,"qty":1}],"idempotency_key":"k"}`, "VALIDATION_FAILED", map[string]string{"items[0].product_id": "must be of type integer"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":1,"note":"x"}],"idempotency_key":"k"}`, "VALIDATION_FAILED", map[string]string{"items[1].note": "unknown field"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":0}],"idempotency_key":"k"}`, "VALIDATION_FAILED", map[string]string{"items[1].qty": "must be from 1 to 10000"}},
		{"{\"customer_id\":1,\"items\":[{\"product_id\":1,\"qty\":1}],\"idempotency_key\":\"k\xff\"}", "INVALID_JSON", map[string]string{}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"k","correlation_id":"\udc00"}`, "INVALID_JSON", map[string]string{}},
	} {
		resp, out := call(t, h, orchestrator.Path, tc.body, nil)
		if e, _ := out["error"].(map[string]any); resp.StatusCode != 400 || e["code"] != tc.code || !reflect.DeepEqual(details(out), tc.want) {
			t.Errorf("%s: got %d %v, want 400 %s %v", tc.body, resp.StatusCode, out, tc.code, tc.want)
		}
	}
}
