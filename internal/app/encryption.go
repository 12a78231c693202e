package app

import (
	"log/slog"
	"net/http"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/internal/codec"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/ingest"
)

// useEncryption sets the payload and failure converters of opts when an
// encryption key file is configured; without one it leaves opts alone.
func useEncryption(opts *client.Options, cfg config.Config, log *slog.Logger) error {
	if cfg.EncryptionKeyFile == "" {
		return nil
	}
	c, err := codec.LoadFile(cfg.EncryptionKeyFile)
	if err != nil {
		return err
	}
	opts.DataConverter = c.DataConverter()
	opts.FailureConverter = codec.FailureConverter(opts.DataConverter)
	log.Info("payload encryption on", "encrypt_key_id", c.EncryptKeyID(), "decrypt_key_ids", c.KeyIDs())
	return nil
}

// httpEncryption is what the HTTP server needs of the encryption: the
// /codec endpoint for the Web UI and the data converter that decodes
// failures read outside the SDK. Both nil without a key file.
func httpEncryption(cfg config.Config) (http.Handler, converter.DataConverter) {
	if cfg.EncryptionKeyFile == "" {
		return nil, nil
	}
	c, err := codec.LoadFile(cfg.EncryptionKeyFile)
	if err != nil {
		// Dial loaded the same file before; if it no longer loads, /codec
		// says why instead of taking the whole HTTP server down.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			ingest.WriteError(w, http.StatusServiceUnavailable, err.Error())
		}), nil
	}
	h := codec.NewHandler(codec.HandlerOptions{Codec: c, AdminToken: cfg.AdminToken, AllowedOrigins: cfg.CodecOrigins})
	return h, c.DataConverter()
}
