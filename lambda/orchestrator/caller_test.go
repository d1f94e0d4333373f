package orchestrator_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/lambda/orchestrator"
	"github.com/b2b/backoffice/lambda/orchestrator/apigw"
)

// TestCallerFromTheAuthorizer runs the handler as the Lambda does, behind apigw, with real API Gateway
// proxy events carrying an authorizer's context. A caller bound to a customer orders for that customer
// only: for another one it is 403 before customers-api is asked or anything is sent. Its own order's
// command carries its sub and its customer binding. A caller without orders:write is 403 with the
// RFC 6750 challenge; an event without a caller is 401 in the Lambda; the local runner (no authorizer)
// sends commands without an actor.
func TestCallerFromTheAuthorizer(t *testing.T) {
	srv := sqstest.Start(t, "order-commands")
	cust := &recording{status: 200, body: `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`}
	ord := &recording{status: 200, body: `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"PROCESSING"}`}
	srvC, srvO := httptest.NewServer(cust), httptest.NewServer(ord)
	defer srvC.Close()
	defer srvO.Close()
	cfg := orchestrator.Config{CustomersBase: srvC.URL, OrdersBase: srvO.URL, ServiceToken: "tok",
		WaitTimeout: 200 * time.Millisecond, UpstreamTimeout: time.Second}
	routes := orchestrator.Routes(newOrchestrator(t, cfg, newPublisher(t, srv)), slog.New(slog.DiscardHandler))
	inLambda := apigw.Handler(routes, slog.New(slog.DiscardHandler), apigw.RequireAuthorizer())
	local := apigw.Handler(routes, slog.New(slog.DiscardHandler))

	body := `{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k"}`
	invoke := func(h func(context.Context, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error), authorizer map[string]any) lambdaevents.APIGatewayProxyResponse {
		t.Helper()
		resp, err := h(context.Background(), lambdaevents.APIGatewayProxyRequest{
			HTTPMethod: http.MethodPost, Path: orchestrator.StagePath, Body: body,
			Headers:        map[string]string{"Content-Type": "application/json", "X-Correlation-Id": "corr-caller"},
			RequestContext: lambdaevents.APIGatewayProxyRequestContext{Stage: "dev", Authorizer: authorizer},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	command := func() events.PlaceOrder {
		t.Helper()
		msgs := srv.Receive(t, "order-commands", 10)
		if len(msgs) != 1 {
			t.Fatalf("queue: got %d commands, want 1", len(msgs))
		}
		var cmd events.PlaceOrder
		if err := json.Unmarshal([]byte(msgs[0].Body), &cmd); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	nothingSent := func() {
		t.Helper()
		if msgs := srv.Receive(t, "order-commands", 10); len(msgs) != 0 {
			t.Errorf("queue: got %d commands, want none", len(msgs))
		}
	}
	// What a Lambda authorizer (cmd/authorizer) hands over, as API Gateway delivers it.
	lambdaContext := func(sub, customerID, scope string) map[string]any {
		m := map[string]any{"principalId": sub, "sub": sub, "scope": scope, "integrationLatency": 2.0}
		if customerID != "" {
			m["customer_id"] = customerID
		}
		return m
	}

	t.Run("bound to another customer", func(t *testing.T) {
		before := len(cust.paths)
		resp := invoke(inLambda, lambdaContext("acme-integration", "1", auth.ScopeOrdersWrite))
		if want := `{"success":false,"correlationId":"corr-caller","error":{"code":"FORBIDDEN","message":"an access token bound to a customer can only order for that customer"}}`; resp.StatusCode != 403 || strings.TrimSpace(resp.Body) != want {
			t.Errorf("got %d %s, want 403 %s", resp.StatusCode, resp.Body, want)
		}
		if len(cust.paths) != before {
			t.Errorf("customers-api was asked %d times, want none", len(cust.paths)-before)
		}
		nothingSent()
	})

	t.Run("bound to its own customer, Cognito claims", func(t *testing.T) {
		resp := invoke(inLambda, map[string]any{"claims": map[string]any{"sub": "globex-integration", "customer_id": "7", "scope": "orders:write"}})
		if resp.StatusCode != 202 {
			t.Fatalf("got %d %s, want 202 PENDING", resp.StatusCode, resp.Body)
		}
		if cmd := command(); cmd.Actor != "globex-integration" || cmd.ActorCustomerID != 7 || cmd.CustomerID != 7 || cmd.CorrelationID != "corr-caller" {
			t.Errorf("command: got %+v, want actor globex-integration bound to customer 7", cmd)
		}
	})

	t.Run("operator", func(t *testing.T) {
		if resp := invoke(inLambda, lambdaContext("ops-alice", "", "orders:write orders:read")); resp.StatusCode != 202 {
			t.Fatalf("got %d %s, want 202 PENDING", resp.StatusCode, resp.Body)
		}
		if cmd := command(); cmd.Actor != "ops-alice" || cmd.ActorCustomerID != 0 {
			t.Errorf("command: got actor %q bound to %d, want ops-alice unbound", cmd.Actor, cmd.ActorCustomerID)
		}
	})

	t.Run("without orders:write", func(t *testing.T) {
		resp := invoke(inLambda, lambdaContext("ops-reader", "", "orders:read reports:read"))
		if resp.StatusCode != 403 || http.Header(resp.MultiValueHeaders).Get("WWW-Authenticate") != `Bearer error="insufficient_scope", scope="orders:write"` {
			t.Errorf("got %d %v %s, want 403 with the challenge", resp.StatusCode, resp.Headers, resp.Body)
		}
		nothingSent()
	})

	t.Run("no authorizer in the Lambda", func(t *testing.T) {
		if resp := invoke(inLambda, nil); resp.StatusCode != 401 || http.Header(resp.MultiValueHeaders).Get("WWW-Authenticate") != auth.ChallengeInvalidToken {
			t.Errorf("got %d %v %s, want 401", resp.StatusCode, resp.Headers, resp.Body)
		}
		nothingSent()
	})

	t.Run("local runner", func(t *testing.T) {
		if resp := invoke(local, nil); resp.StatusCode != 202 {
			t.Fatalf("got %d %s, want 202 PENDING", resp.StatusCode, resp.Body)
		}
		if cmd := command(); cmd.Actor != "" || cmd.ActorCustomerID != 0 {
			t.Errorf("command: got actor %q bound to %d, want none (the worker records anonymous)", cmd.Actor, cmd.ActorCustomerID)
		}
	})
}
