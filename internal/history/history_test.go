package history_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/herald-alerts/herald/internal/codec"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/workflows"
)

const testdata = "../../workflows/testdata"

func recordedHistories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdata, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in %s", testdata)
	return files
}

func readHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	return h
}

func TestReplayRecordedHistories(t *testing.T) {
	for _, f := range recordedHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			assert.NoError(t, history.Replay(workflows.Register, f))
		})
	}
	// All at once, too.
	assert.NoError(t, history.Replay(workflows.Register, recordedHistories(t)...))
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("not json at all"), 0o600))
	missing := filepath.Join(dir, "missing.json")
	good := filepath.Join(testdata, "alert_v1_fanout_resolve.json")

	tests := []struct {
		name     string
		register func(worker.WorkflowRegistry)
		files    []string
		want     string // substring of the error
	}{
		{"nonexistent path", workflows.Register, []string{missing}, "missing.json"},
		{"garbage", workflows.Register, []string{garbage}, "garbage.json"},
		{"first file fine, second missing", workflows.Register, []string{good, missing}, "missing.json"},
		{"workflow not registered", func(worker.WorkflowRegistry) {}, []string{good}, "alert_v1_fanout_resolve.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := history.Replay(tc.register, tc.files...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "replay ")
		})
	}
	assert.NoError(t, history.Replay(workflows.Register), "no files: nothing to fail")
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, f := range recordedHistories(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h := readHistory(t, f)
			require.NotEmpty(t, h.Events)

			data, err := history.Marshal(h)
			require.NoError(t, err)
			assert.True(t, bytes.HasSuffix(data, []byte("}\n")), "output ends with a newline")
			assert.Contains(t, string(data), "\n  \"events\"", "indented")
			assert.Contains(t, string(data), "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "enum names as the CLI writes them")

			out := filepath.Join(t.TempDir(), filepath.Base(f))
			require.NoError(t, os.WriteFile(out, data, 0o600))
			again := readHistory(t, out)
			assert.True(t, proto.Equal(h, again), "history changed in a Marshal round trip")
			assert.NoError(t, history.Replay(workflows.Register, out), "marshalled history does not replay")
		})
	}
}

// fakeIterator yields events, then err (if any).
type fakeIterator struct {
	events []*historypb.HistoryEvent
	err    error
}

func (it *fakeIterator) HasNext() bool { return len(it.events) > 0 || it.err != nil }

func (it *fakeIterator) Next() (*historypb.HistoryEvent, error) {
	if len(it.events) == 0 {
		err := it.err
		it.err = nil
		return nil, err
	}
	ev := it.events[0]
	it.events = it.events[1:]
	return ev, nil
}

func TestFetchAndExport(t *testing.T) {
	src := readHistory(t, filepath.Join(testdata, "alert_v1_fanout_resolve.json"))
	newClient := func(it client.HistoryEventIterator) *mocks.Client {
		c := &mocks.Client{}
		c.On("GetWorkflowHistory", mock.Anything, "alert-fp1", "run-1", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT).Return(it)
		return c
	}

	t.Run("export writes a replayable file", func(t *testing.T) {
		c := newClient(&fakeIterator{events: append([]*historypb.HistoryEvent(nil), src.Events...)})
		out := filepath.Join(t.TempDir(), "h.json")
		n, err := history.Export(context.Background(), c, "alert-fp1", "run-1", out)
		require.NoError(t, err)
		assert.Equal(t, len(src.Events), n)
		assert.True(t, proto.Equal(src, readHistory(t, out)))
		assert.NoError(t, history.Replay(workflows.Register, out))
	})
	t.Run("iterator error", func(t *testing.T) {
		c := newClient(&fakeIterator{events: src.Events[:2], err: errors.New("stream broken")})
		_, err := history.Fetch(context.Background(), c, "alert-fp1", "run-1")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "stream broken")
		assert.Contains(t, err.Error(), "alert-fp1")

		out := filepath.Join(t.TempDir(), "h.json")
		c = newClient(&fakeIterator{events: src.Events[:2], err: errors.New("stream broken")})
		_, err = history.Export(context.Background(), c, "alert-fp1", "run-1", out)
		require.Error(t, err)
		_, statErr := os.Stat(out)
		assert.True(t, os.IsNotExist(statErr), "a failed export left a file behind")
	})
	t.Run("unwritable path", func(t *testing.T) {
		c := newClient(&fakeIterator{events: src.Events[:1]})
		_, err := history.Export(context.Background(), c, "alert-fp1", "run-1", filepath.Join(t.TempDir(), "no", "such", "dir", "h.json"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "write ")
	})
	t.Run("fetch of an empty history", func(t *testing.T) {
		c := newClient(&fakeIterator{})
		h, err := history.Fetch(context.Background(), c, "alert-fp1", "run-1")
		require.NoError(t, err)
		assert.Empty(t, h.Events)
	})
}

// encryptHistory writes the recorded history at src with every payload
// (except search attributes, which the server indexes) encrypted by c, as
// a Herald with payload encryption records it.
func encryptHistory(t *testing.T, c *codec.Codec, src string) string {
	t.Helper()
	h := readHistory(t, src)
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Encode(ps)
		},
	})
	require.NoError(t, err)
	data, err := history.Marshal(h)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), filepath.Base(src))
	require.NoError(t, os.WriteFile(out, data, 0o600))
	return out
}

func TestReplayEncryptedHistory(t *testing.T) {
	keys, err := codec.ParseKeys(strings.NewReader("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))))
	require.NoError(t, err)
	withKey := history.ReplayOptions{DataConverter: keys.DataConverter()}
	withKey.FailureConverter = codec.FailureConverter(withKey.DataConverter)
	plain := filepath.Join(testdata, "alert_v1_fanout_resolve.json")
	encrypted := encryptHistory(t, keys, plain)
	raw, err := os.ReadFile(encrypted)
	require.NoError(t, err)
	require.Contains(t, string(raw), codec.MetadataKeyID, "the test history is not encrypted")

	tests := []struct {
		name    string
		opts    history.ReplayOptions
		file    string
		wantErr bool
	}{
		{name: "encrypted history with the key", opts: withKey, file: encrypted},
		{name: "encrypted history without the key", file: encrypted, wantErr: true},
		{name: "unencrypted history with the key (written before encryption was on)", opts: withKey, file: plain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := history.ReplayWith(tc.opts, workflows.Register, tc.file)
			if tc.wantErr {
				// The workflow cannot read its encrypted input and so
				// does not produce the recorded commands.
				assert.Error(t, err)
				return
			}
			assert.NoError(t, err)
		})
	}
}
