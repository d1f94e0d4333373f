package orchestrator

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/b2b/backoffice/internal/queue"
)

// Setup builds the whole HTTP handler from cfg: the SQS publisher, the upstream client and the routes.
// Both cmd/lambda and cmd/local call it, so the three run modes differ only in how requests arrive (and
// in opts: cmd/local counts what it answers for /metrics).
func Setup(cfg Config, log *slog.Logger, opts ...Option) (http.Handler, func() error, error) {
	pub, err := queue.NewPublisher(cfg.SQS, log)
	if err != nil {
		return nil, nil, fmt.Errorf("order commands publisher: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Concurrent requests all call the same two services: keep their connections.
	tr.MaxIdleConnsPerHost = 64
	h, err := New(cfg, pub, &http.Client{Transport: tr})
	if err != nil {
		_ = pub.Close()
		return nil, nil, err
	}
	for _, o := range opts {
		o(h)
	}
	return Routes(h, log), pub.Close, nil
}
