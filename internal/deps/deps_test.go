package deps_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/b2b/backoffice/"

// forbiddenInDomain are import paths (or prefixes ending in "/") a domain package must not reach,
// directly or through another package: the domain knows nothing of SQL, HTTP, AWS, messaging or
// metrics (it tells an observer it owns what committed; the Prometheus side is outside).
var forbiddenInDomain = []string{
	"database/sql",
	"net/http",
	"github.com/aws/",
	"github.com/ThreeDotsLabs/",
	"github.com/go-sql-driver/mysql",
	"github.com/prometheus/",
}

var domainPackages = []string{
	"events",
	"internal/apperr",
	"internal/identity",
	"services/customers/internal/customer",
	"services/orders/internal/order",
	"services/reporting/internal/report",
}

// deps returns every package pkg imports, directly or not, standard library included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// violations returns the packages of pkg's dependencies that match one of forbidden.
func violations(t *testing.T, pkg string, forbidden []string) []string {
	t.Helper()
	var bad []string
	for _, d := range deps(t, pkg) {
		for _, f := range forbidden {
			if d == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

func TestDomainPackagesStayPure(t *testing.T) {
	for _, p := range domainPackages {
		if bad := violations(t, module+p, forbiddenInDomain); len(bad) > 0 {
			t.Errorf("domain package %s depends on %v", p, bad)
		}
	}
}

// TestAPIsLinkNoAWS: orders-api writes events into its outbox table and never talks to SQS, and
// customers-api has no queue at all; the AWS SDK (and watermill-aws) belong to the relay, the worker,
// the orchestrator and consumers.
func TestAPIsLinkNoAWS(t *testing.T) {
	for _, p := range []string{"services/orders/cmd/orders-api", "services/customers/cmd/customers-api"} {
		if bad := violations(t, module+p, []string{"github.com/aws/", "github.com/ThreeDotsLabs/watermill-aws"}); len(bad) > 0 {
			t.Errorf("%s links %d AWS packages, e.g. %v", p, len(bad), bad[:min(3, len(bad))])
		}
	}
}

// TestAPIsReachStorageThroughTheDomain: handlers translate HTTP to use cases; they never call a store.
func TestAPIsReachStorageThroughTheDomain(t *testing.T) {
	for api, db := range map[string]string{
		"services/orders/internal/orderapi":       "services/orders/internal/orderdb",
		"services/customers/internal/customerapi": "services/customers/internal/customerdb",
		"services/reporting/internal/reportapi":   "services/reporting/internal/reportdb",
	} {
		if bad := violations(t, module+api, []string{module + db, "database/sql"}); len(bad) > 0 {
			t.Errorf("%s depends on %v", api, bad)
		}
	}
}

// TestTheCheckSeesAViolation keeps the checks above honest: a store does import database/sql, and the
// relay links the AWS SDK, so an empty answer there would mean the check looks at nothing.
func TestTheCheckSeesAViolation(t *testing.T) {
	if bad := violations(t, module+"services/orders/internal/orderdb", forbiddenInDomain); len(bad) == 0 {
		t.Error("orderdb: no SQL dependency found; the dependency check is broken")
	}
	if bad := violations(t, module+"outbox/cmd/outbox-relay", []string{"github.com/aws/"}); len(bad) == 0 {
		t.Error("outbox-relay: no AWS dependency found; the dependency check is broken")
	}
	if bad := violations(t, module+"services/orders/internal/ordermetrics", forbiddenInDomain); len(bad) == 0 {
		t.Error("ordermetrics: no Prometheus dependency found; the dependency check is broken")
	}
}
