package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// apiError is a non-2xx answer of the API.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// recorder collects the API's answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}
func (rec *recorder) Write(p []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(p)
}

// call runs method path?query on the API in-process, as the browser's
// request: its Host and remote address, and the admin token as bearer when
// it has a session. A 2xx answer is decoded into out; others are an
// *apiError. The status is returned either way.
func (c *Console) call(ctx context.Context, from *http.Request, method, path string, query url.Values, out any) (int, error) {
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, fmt.Errorf("build API request %s %s: %w", method, path, err)
	}
	req.Host, req.RemoteAddr = from.Host, from.RemoteAddr
	if c.cfg.AdminToken != "" && c.session(from) != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.AdminToken)
	}
	rec := &recorder{header: http.Header{}}
	c.cfg.API.ServeHTTP(rec, req)
	if rec.status < 200 || rec.status > 299 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		if e.Error == "" {
			e.Error = http.StatusText(rec.status)
		}
		// Some answers carry a result besides the status (a failed replay).
		if out != nil && rec.status == http.StatusBadGateway {
			_ = json.Unmarshal(rec.body.Bytes(), out)
		}
		return rec.status, &apiError{Status: rec.status, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.status, fmt.Errorf("decode API answer of %s %s: %w", method, path, err)
		}
	}
	return rec.status, nil
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
