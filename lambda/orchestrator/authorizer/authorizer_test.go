package authorizer_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/lambda/orchestrator/apigw"
	"github.com/b2b/backoffice/lambda/orchestrator/authorizer"
)

const methodArn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/POST/orchestrator/create-and-confirm-order"

func authorize(t *testing.T, header string) (events.APIGatewayCustomAuthorizerResponse, error) {
	t.Helper()
	h := authorizer.Handler(authtest.Verifier(), slog.New(slog.DiscardHandler))
	return h(context.Background(), events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: header, MethodArn: methodArn})
}

// Every token the services refuse, the authorizer refuses with exactly "Unauthorized" (API Gateway's
// 401); the ones they accept it allows, for the whole stage, with the caller in the context.
func TestAuthorizer(t *testing.T) {
	for _, r := range authtest.RefusedHeaders(t) {
		if resp, err := authorize(t, r.Header); !errors.Is(err, authorizer.ErrUnauthorized) || err.Error() != "Unauthorized" {
			t.Errorf("%s: got %+v, %v; want Unauthorized", r.Name, resp, err)
		}
	}
	for _, scheme := range []string{"Bearer ", "bearer "} {
		resp, err := authorize(t, scheme+authtest.Customer(t, "acme-integration", 7))
		if err != nil {
			t.Fatalf("%q: %v", scheme, err)
		}
		st := resp.PolicyDocument.Statement
		if resp.PrincipalID != "acme-integration" || len(st) != 1 || st[0].Effect != "Allow" ||
			!reflect.DeepEqual(st[0].Resource, []string{"arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*"}) ||
			!reflect.DeepEqual(st[0].Action, []string{"execute-api:Invoke"}) {
			t.Errorf("%q: policy %+v", scheme, resp)
		}
		if resp.Context["sub"] != "acme-integration" || resp.Context["customer_id"] != "7" || resp.Context["scope"] == "" {
			t.Errorf("%q: context %v", scheme, resp.Context)
		}
	}
	resp, err := authorize(t, "Bearer "+authtest.Operator(t))
	if _, bound := resp.Context["customer_id"]; err != nil || bound {
		t.Errorf("operator: got %v, %v; want no customer_id", resp.Context, err)
	}
}

// What the authorizer hands over comes back, through API Gateway's proxy event, as the same caller:
// API Gateway passes the context's values as strings.
func TestAuthorizerContextReachesTheFunction(t *testing.T) {
	for _, p := range []auth.Principal{
		{Subject: "acme-integration", CustomerID: 7, Scopes: []string{auth.ScopeOrdersWrite, auth.ScopeOrdersRead}},
		{Subject: "ops-alice", Scopes: []string{auth.ScopeOrdersWrite}},
	} {
		ctx := authorizer.Allow(p, methodArn).Context
		delivered := map[string]any{"principalId": p.Subject, "integrationLatency": float64(3)}
		for k, v := range ctx {
			delivered[k] = v.(string)
		}
		got, found, err := apigw.Principal(events.APIGatewayProxyRequest{RequestContext: events.APIGatewayProxyRequestContext{Authorizer: delivered}})
		if err != nil || !found || !reflect.DeepEqual(got, p) {
			t.Errorf("got %+v, %v, %v; want %+v", got, found, err, p)
		}
	}
}

func TestStageARN(t *testing.T) {
	for in, want := range map[string]string{
		methodArn: "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*",
		"arn:aws:execute-api:us-east-1:1:api/prod/GET/": "arn:aws:execute-api:us-east-1:1:api/prod/*",
		"not-an-arn": "not-an-arn",
	} {
		if got := authorizer.StageARN(in); got != want {
			t.Errorf("StageARN(%q): got %q, want %q", in, got, want)
		}
	}
}
