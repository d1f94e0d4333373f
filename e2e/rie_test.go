package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/b2b/backoffice/lambda/orchestrator"
)

// TestLambdaUnderRIE runs the real bootstrap binary (built for this machine) under the AWS Lambda Runtime
// Interface Emulator and invokes it, one invocation at a time, with API Gateway REST proxy events of the
// "dev" stage: the adapter and lambda.Start are exercised exactly as in AWS. The events carry what the
// authorizer hands over (cmd/authorizer's context, as API Gateway delivers it): the caller's sub is the
// actor of the order's changes, down to the events the relay publishes, and a caller bound to a customer
// orders for that customer only.
func TestLambdaUnderRIE(t *testing.T) {
	s := newStack(t, stackOptions{events: true})
	p := s.product("E2E-RIE", 1999, 3)

	apiPort, riePort := freePort(t), freePort(t)
	env := merge(s.lambdaEnv(3*time.Second), map[string]string{
		// The invocation deadline the handler must stay inside of.
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
		"AWS_LAMBDA_FUNCTION_NAME":    "create-and-confirm-order",
	})
	rie := newProc(t, "aws-lambda-rie", env,
		"--log-level", "warn",
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(riePort),
		filepath.Join(bin, "lambda"),
	).start()
	invokeURL := "http://127.0.0.1:" + strconv.Itoa(riePort) + "/2015-03-31/functions/function/invocations"
	eventually(t, 20*time.Second, "RIE listening", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(riePort), time.Second)
		if err == nil {
			c.Close()
		}
		if _, gone := rie.exited(0); gone {
			t.Fatalf("RIE exited:\n%s", rie.out.String())
		}
		return err == nil
	})

	// acme is the authorizer's context of customer 1's own integration.
	acme := map[string]any{"principalId": "e2e-acme-integration", "sub": "e2e-acme-integration", "customer_id": "1",
		"scope": "orders:write orders:read", "integrationLatency": 3}
	invoke := func(body string, base64Body bool, corr string, authorizer map[string]any) (lambdaevents.APIGatewayProxyResponse, envelope) {
		t.Helper()
		if base64Body {
			body = base64.StdEncoding.EncodeToString([]byte(body))
		}
		ev := lambdaevents.APIGatewayProxyRequest{
			Resource:   "/orchestrator/create-and-confirm-order",
			Path:       orchestrator.StagePath,
			HTTPMethod: http.MethodPost,
			Headers:    map[string]string{"Content-Type": "application/json", "X-Correlation-Id": corr},
			MultiValueHeaders: map[string][]string{
				"Content-Type": {"application/json"}, "X-Correlation-Id": {corr},
			},
			RequestContext: lambdaevents.APIGatewayProxyRequestContext{
				Stage: "dev", Path: orchestrator.StagePath, HTTPMethod: http.MethodPost,
				ResourcePath: "/orchestrator/create-and-confirm-order", RequestID: "req-" + corr,
				Identity:   lambdaevents.APIGatewayRequestIdentity{SourceIP: "198.51.100.7"},
				Authorizer: authorizer,
			},
			Body:            body,
			IsBase64Encoded: base64Body,
		}
		raw, _ := json.Marshal(ev)
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Post(invokeURL, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: RIE answered %d %s", resp.StatusCode, out)
		}
		var r lambdaevents.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("invoke: not a proxy response: %s: %v", out, err)
		}
		var e envelope
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
			t.Fatalf("invoke: body %q: %v", r.Body, err)
		}
		return r, e
	}

	t.Run("happy path", func(t *testing.T) {
		body := `{"customer_id":1,"items":[{"product_id":` + strconv.FormatInt(p, 10) + `,"qty":2}],"idempotency_key":"e2e-rie-happy"}`
		r, e := invoke(body, false, "e2e-corr-rie-1", acme)
		if r.StatusCode != http.StatusCreated || !e.Success || e.CorrelationID != "e2e-corr-rie-1" {
			t.Fatalf("got %d %s, want 201 success with the correlation id", r.StatusCode, r.Body)
		}
		if r.Headers["Content-Type"] != "application/json" || r.Headers["X-Correlation-Id"] != "e2e-corr-rie-1" || r.IsBase64Encoded {
			t.Errorf("headers: got %v base64=%v, want JSON with X-Correlation-Id, not base64", r.Headers, r.IsBase64Encoded)
		}
		var d orderData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Order.Status != "CONFIRMED" || d.Order.TotalCents != 2*1999 || d.Customer.ID != 1 {
			t.Errorf("data: got %+v, want customer 1 and a CONFIRMED order of 3998", d)
		}
		if got := s.stock(p); got != 1 {
			t.Errorf("stock: got %d, want 1", got)
		}
		// The caller is the actor of the order's changes: in the audit log, and in the events the relay
		// published, as they arrive on a queue subscribed to the topic.
		id := strconv.FormatInt(d.Order.ID, 10)
		if got := s.auditActors("order", d.Order.ID); !slices.Equal(got, []string{"order.created by e2e-acme-integration/1", "order.confirmed by e2e-acme-integration/1"}) {
			t.Errorf("audit log of order %s: got %q", id, got)
		}
		if got := s.published(t, id, 2); !slices.Equal(got, []string{"order.created by e2e-acme-integration", "order.confirmed by e2e-acme-integration"}) {
			t.Errorf("events of order %s on %s: got %q", id, tapQueue, got)
		}
	})

	t.Run("a caller bound to another customer", func(t *testing.T) {
		body := `{"customer_id":2,"items":[{"product_id":` + strconv.FormatInt(p, 10) + `,"qty":1}],"idempotency_key":"e2e-rie-other"}`
		r, e := invoke(body, false, "e2e-corr-rie-3", acme)
		if r.StatusCode != http.StatusForbidden || e.Error == nil || e.Error.Code != "FORBIDDEN" {
			t.Fatalf("got %d %s, want 403 FORBIDDEN", r.StatusCode, r.Body)
		}
		if st, _ := s.requestStatus("e2e-rie-other"); st != "" || s.stock(p) != 1 {
			t.Errorf("request recorded as %q, stock %d: want nothing sent", st, s.stock(p))
		}
	})

	t.Run("no authorizer", func(t *testing.T) {
		body := `{"customer_id":1,"items":[{"product_id":` + strconv.FormatInt(p, 10) + `,"qty":1}],"idempotency_key":"e2e-rie-anonymous"}`
		r, e := invoke(body, false, "e2e-corr-rie-4", nil)
		if r.StatusCode != http.StatusUnauthorized || e.Error == nil || e.Error.Code != "UNAUTHENTICATED" || http.Header(r.MultiValueHeaders).Get("WWW-Authenticate") == "" {
			t.Fatalf("got %d %v %s, want 401 UNAUTHENTICATED with a challenge", r.StatusCode, r.MultiValueHeaders, r.Body)
		}
	})

	t.Run("error with a base64 body", func(t *testing.T) {
		body := `{"customer_id":1,"items":[{"product_id":` + strconv.FormatInt(p, 10) + `,"qty":2}],"idempotency_key":"e2e-rie-short"}`
		r, e := invoke(body, true, "e2e-corr-rie-2", acme)
		if r.StatusCode != http.StatusConflict || e.Success || e.Error == nil || e.Error.Code != "INSUFFICIENT_STOCK" {
			t.Fatalf("got %d %s, want 409 INSUFFICIENT_STOCK", r.StatusCode, r.Body)
		}
		if got := s.stock(p); got != 1 {
			t.Errorf("stock: got %d, want 1 (unchanged)", got)
		}
	})
}

// envelope is the orchestrator's answer body.
type envelope struct {
	Success       bool            `json:"success"`
	CorrelationID string          `json:"correlationId"`
	Data          json.RawMessage `json:"data"`
	Error         *struct {
		Code string `json:"code"`
	} `json:"error"`
}
