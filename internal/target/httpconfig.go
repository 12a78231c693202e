package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// HTTPConfigField is the name of the http_config block in a target object.
const HTTPConfigField = "http_config"

// HTTPConfig is what the target package needs of an http_config block
// (internal/httpconfig.Config, which registers itself with
// RegisterHTTPConfig: the target package cannot import it).
type HTTPConfig interface {
	// Validate checks the block, files included.
	Validate() error
	// ValidateTenant is Validate for a tenant's target: no files.
	ValidateTenant() error
	// Secrets lists the block's credentials.
	Secrets() []string
	// Warnings lists what the block allows that weakens a delivery's
	// protection.
	Warnings() []string
}

// NotHTTP is implemented by kinds whose deliveries are not HTTP requests
// (email): their targets may not have an http_config block.
type NotHTTP interface{ NotHTTP() }

var httpConfigFactory struct {
	sync.RWMutex
	new func() HTTPConfig
}

// RegisterHTTPConfig sets how http_config blocks are decoded: into the
// value newConfig returns (a pointer).
func RegisterHTTPConfig(newConfig func() HTTPConfig) {
	httpConfigFactory.Lock()
	defer httpConfigFactory.Unlock()
	httpConfigFactory.new = newConfig
}

func decodeHTTPConfig(raw json.RawMessage) (HTTPConfig, error) {
	httpConfigFactory.RLock()
	newConfig := httpConfigFactory.new
	httpConfigFactory.RUnlock()
	if newConfig == nil {
		return nil, errors.New("http_config is not supported here")
	}
	hc := newConfig()
	if err := strictDecode(raw, hc); err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	return hc, nil
}

// fieldMessage is an error that names a field path (httpconfig.FieldError).
type fieldMessage interface{ FieldMessage() (field, msg string) }

func (t Target) validateHTTPConfig(k Kind) error {
	hc := t.HTTPConfig
	if hc == nil {
		return nil
	}
	if _, ok := k.(NotHTTP); ok {
		return t.Field(HTTPConfigField, "is only for targets whose deliveries are HTTP requests, not type %s", t.Type)
	}
	var err error
	if t.FromTenant() {
		err = hc.ValidateTenant()
	} else {
		err = hc.Validate()
	}
	if err == nil {
		return nil
	}
	var fm fieldMessage
	if errors.As(err, &fm) {
		field, msg := fm.FieldMessage()
		return t.Field(field, "%s", msg)
	}
	return t.Field(HTTPConfigField, "%v", err)
}
