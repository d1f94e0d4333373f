package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// send makes a request to one of the stack's APIs with the Authorization header authz ("" for none) and
// returns the status and the decoded body.
func send(t *testing.T, method, url, authz, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestActorOfEveryChange: the real binaries record who made each change, and the events the relay
// publishes say it too: the REST calls' token subjects, the customer-bound integration's, and
// "anonymous" for the local orchestrator, which runs without an authorizer. Without a token the public
// routes are 401 and change nothing.
func TestActorOfEveryChange(t *testing.T) {
	s := newStack(t, stackOptions{events: true})
	p := s.product("E2E-ACTOR", 300, 50)
	alice := authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "e2e-alice", Scopes: auth.AllScopes()}))
	bob := authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "e2e-bob", Scopes: auth.AllScopes()}))
	acme := authtest.Bearer(authtest.Customer(t, "e2e-acme-integration", 1))
	order := fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":2}]}`, p)

	if status, _ := send(t, "POST", s.ordersURL+"/orders", "", order); status != http.StatusUnauthorized {
		t.Errorf("POST /orders without a token: got %d, want 401", status)
	}
	if status, _ := send(t, "POST", s.customersURL+"/customers", "", `{"name":"Nobody","email":"nobody@x.example"}`); status != http.StatusUnauthorized {
		t.Errorf("POST /customers without a token: got %d, want 401", status)
	}
	if n := s.count(`SELECT COUNT(*) FROM orders`); n != 0 {
		t.Fatalf("orders after refused requests: got %d, want 0", n)
	}

	status, c := send(t, "POST", s.customersURL+"/customers", alice, `{"name":"Actor Corp","email":"actor@x.example"}`)
	if status != http.StatusCreated {
		t.Fatalf("create customer: got %d %v", status, c)
	}
	var actor string
	if err := s.customersDB.QueryRow(`SELECT actor FROM audit_log WHERE action = 'customer.created' AND entity_id = ?`, int64(c["id"].(float64))).Scan(&actor); err != nil || actor != "e2e-alice" {
		t.Errorf("customers audit log: got %q (%v), want e2e-alice", actor, err)
	}

	status, o := send(t, "POST", s.ordersURL+"/orders", acme, order)
	if status != http.StatusCreated {
		t.Fatalf("create order: got %d %v", status, o)
	}
	id := strconv.FormatInt(int64(o["id"].(float64)), 10)
	if status, body := send(t, "POST", s.ordersURL+"/orders/"+id+"/confirm", bob, "", "X-Idempotency-Key", "e2e-actor-confirm"); status != http.StatusOK {
		t.Fatalf("confirm: got %d %v", status, body)
	}
	if status, body := send(t, "POST", s.ordersURL+"/orders/"+id+"/cancel", alice, ""); status != http.StatusOK {
		t.Fatalf("cancel: got %d %v", status, body)
	}
	want := []string{"order.created by e2e-acme-integration", "order.confirmed by e2e-bob", "order.canceled by e2e-alice"}
	if got := s.published(t, id, 3); !slices.Equal(got, want) {
		t.Errorf("events of order %s on %s:\ngot  %q\nwant %q", id, tapQueue, got, want)
	}

	a := post(t, s.orchURL+orchestrator.Path, request{CustomerID: 2, Items: []item{{p, 1}}, IdempotencyKey: "e2e-actor-local"})
	if a.Status != http.StatusCreated {
		t.Fatalf("create-and-confirm: got %d %s", a.Status, a.Raw)
	}
	id = strconv.FormatInt(a.order(t).Order.ID, 10)
	anon := []string{"order.created by " + identity.Anonymous, "order.confirmed by " + identity.Anonymous}
	if got := s.published(t, id, 2); !slices.Equal(got, anon) {
		t.Errorf("events of the local orchestrator's order %s: got %q, want %q", id, got, anon)
	}
}
