// Package authorizer is the API Gateway Lambda authorizer (TOKEN type) in front of the orchestrator on
// AWS. It verifies the caller's access token with the same verifier, and so by the same rules and from
// the same identity provider (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE), as the public routes of the
// services, and hands the caller's sub, scope and customer_id to the function in its context, which
// API Gateway puts in the proxy event's requestContext.authorizer (read by apigw.Principal).
//
// Why a Lambda authorizer and not API Gateway's own: the endpoint is a REST API (v1), whose only
// built-in token check is a Cognito user pool authorizer (the generic JWT authorizer exists for HTTP
// APIs, v2, only). A Cognito authorizer ties the endpoint to Cognito, and Cognito's access tokens carry
// no aud, which the services require; this authorizer accepts exactly the tokens the services accept,
// from any OIDC provider.
package authorizer

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
)

// ErrUnauthorized is the answer API Gateway turns into 401: the error message must be exactly
// "Unauthorized".
var ErrUnauthorized = errors.New("Unauthorized")

// Handler returns the authorizer: a valid token is allowed to invoke the API with the caller in the
// context; anything else is ErrUnauthorized (why is logged). A token that cannot be checked yet (the
// identity provider's keys not loaded) is an error of another kind, which API Gateway answers with a
// 500 rather than telling the client its token is bad.
func Handler(v *auth.Verifier, log *slog.Logger) func(context.Context, events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		raw, ok := web.BearerToken(&http.Request{Header: http.Header{"Authorization": {req.AuthorizationToken}}})
		if !ok {
			log.Info("authentication failed", "reason", "no bearer token in the Authorization header")
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		p, err := v.Verify(ctx, raw)
		if err != nil {
			if auth.Unavailable(err) {
				log.Error("access token not checked", "error", err.Error())
				return events.APIGatewayCustomAuthorizerResponse{}, err
			}
			log.Info("authentication failed", "reason", err.Error())
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		log.Info("authenticated", "sub", p.Subject, "customer_id", p.CustomerID)
		return Allow(p, req.MethodArn), nil
	}
}

// Allow is the answer for principal p: invoke any method of the API's stage that methodArn belongs to
// (API Gateway caches an answer per token for the authorizer's TTL, and a policy naming one method
// would refuse the others), with p in the context. Context values are strings, numbers or booleans;
// customer_id is a decimal string, as an identity provider that stores string attributes sends it.
func Allow(p auth.Principal, methodArn string) events.APIGatewayCustomAuthorizerResponse {
	ctx := map[string]any{"sub": p.Subject, "scope": strings.Join(p.Scopes, " ")}
	if p.CustomerID != 0 {
		ctx["customer_id"] = strconv.FormatInt(p.CustomerID, 10)
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: p.Subject,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{StageARN(methodArn)},
			}},
		},
		Context: ctx,
	}
}

// StageARN returns the ARN of every method of the stage methodArn belongs to:
// arn:aws:execute-api:region:account:api-id/stage/*. An ARN of another shape is returned as it is.
func StageARN(methodArn string) string {
	arn, path, ok := strings.Cut(methodArn, "/")
	if !ok {
		return methodArn
	}
	stage, _, _ := strings.Cut(path, "/")
	return arn + "/" + stage + "/*"
}
