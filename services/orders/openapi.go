// Package orders holds what belongs to the orders service as a whole: its OpenAPI contract.
package orders

import _ "embed"

// OpenAPI is the OpenAPI 3.0 description of orders-api, served at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
