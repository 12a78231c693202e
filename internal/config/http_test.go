package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The HTTP surface settings: hosts a loopback server answers, the time to
// receive a body, the API's concurrency bound.
func TestHTTPSurfaceOptions(t *testing.T) {
	c, err, _ := load(t, nil, env{})
	require.NoError(t, err)
	assert.Nil(t, c.AllowedHosts)
	assert.Equal(t, 10*time.Second, c.BodyReadTimeout)
	assert.Equal(t, 0, c.APIConcurrency)

	c, err, _ = load(t, []string{"--api-concurrency=8"}, env{
		"HERALD_ALLOWED_HOSTS": " herald.local , herald.corp:8080,", "HERALD_BODY_READ_TIMEOUT": "3s",
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"herald.local", "herald.corp:8080"}, c.AllowedHosts)
	assert.Equal(t, 3*time.Second, c.BodyReadTimeout)
	assert.Equal(t, 8, c.APIConcurrency)

	for _, tc := range []struct {
		env  env
		want string
	}{
		{env{"HERALD_ALLOWED_HOSTS": "http://herald.local"}, "host names, not URLs"},
		{env{"HERALD_BODY_READ_TIMEOUT": "0s"}, "--body-read-timeout must be positive"},
		{env{"HERALD_API_CONCURRENCY": "-1"}, "--api-concurrency must not be negative"},
	} {
		_, err, _ := load(t, nil, tc.env)
		if assert.Error(t, err, "%v", tc.env) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}
