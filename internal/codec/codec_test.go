package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/codec"
)

// keyLine returns "id:base64" of a 32-byte key filled with b.
func keyLine(id string, b byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, codec.KeySize))
}

func mustParse(t *testing.T, lines ...string) *codec.Codec {
	t.Helper()
	c, err := codec.ParseKeys(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("parse keys: %v", err)
	}
	return c
}

func TestParseKeys(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	tests := []struct {
		name    string
		file    string
		ids     []string
		wantErr string
	}{
		{name: "one key", file: keyLine("k1", 1), ids: []string{"k1"}},
		{name: "comments, blanks, spaces, rotation order",
			file: "# current key first\n\n  " + keyLine("2025-06.b", 2) + "  \n# old\n" + keyLine("k_1", 1) + "\n",
			ids:  []string{"2025-06.b", "k_1"}},
		{name: "unpadded base64", file: "k1:" + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)), ids: []string{"k1"}},
		{name: "empty file", file: "\n# nothing\n", wantErr: "no keys"},
		{name: "no colon", file: "# c\nk1", wantErr: "line 2: expected key-id:base64"},
		{name: "empty id", file: ":" + secret, wantErr: "line 1: empty key id"},
		{name: "bad id characters", file: "k 1/x:" + secret, wantErr: `line 1: key id "k 1/x" may only contain`},
		{name: "long id", file: strings.Repeat("a", 65) + ":" + secret, wantErr: "line 1: key id is 65 characters long"},
		{name: "not base64", file: "k1:%%%" + secret, wantErr: `line 1: key "k1" is not valid standard base64`},
		{name: "16-byte key", file: "\n\nk1:" + secret, wantErr: `line 3: key "k1" decodes to 16 bytes, AES-256 needs exactly 32`},
		{name: "duplicate id", file: keyLine("k1", 1) + "\n" + keyLine("k1", 2), wantErr: `line 2: key id "k1" is already used on line 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := codec.ParseKeys(strings.NewReader(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals the key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := c.KeyIDs(); strings.Join(got, ",") != strings.Join(tc.ids, ",") {
				t.Fatalf("key ids = %v, want %v", got, tc.ids)
			}
			if c.EncryptKeyID() != tc.ids[0] {
				t.Fatalf("encrypting key = %q, want the first line's %q", c.EncryptKeyID(), tc.ids[0])
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys")
	if err := os.WriteFile(good, []byte(keyLine("k1", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("k1:AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{name: "ok", path: good},
		{name: "missing", path: filepath.Join(dir, "nope"), wantErr: "encryption key file: open"},
		{name: "invalid names the file and line", path: bad, wantErr: "encryption key file " + bad + ": line 1: key \"k1\" decodes to 3 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := codec.LoadFile(tc.path)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("load: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesPlaintext(t *testing.T) {
	c := mustParse(t, keyLine("k1", 1))
	in := []*commonpb.Payload{payload(t, "runbook for customer ACME-SECRET-42"), payload(t, map[string]int{"n": 1}), payload(t, nil)}
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	for i, p := range enc {
		if got := string(p.GetMetadata()[converter.MetadataEncoding]); got != codec.Encoding {
			t.Errorf("payload %d encoding = %q, want %q", i, got, codec.Encoding)
		}
		if got := string(p.GetMetadata()[codec.MetadataKeyID]); got != "k1" {
			t.Errorf("payload %d key id = %q, want k1", i, got)
		}
		if bytes.Contains(p.GetData(), []byte("ACME-SECRET-42")) || bytes.Contains(p.GetData(), []byte("json/plain")) {
			t.Errorf("payload %d data holds plaintext", i)
		}
		if len(p.GetMetadata()) != 2 {
			t.Errorf("payload %d metadata = %v: the original metadata must be inside the ciphertext", i, p.GetMetadata())
		}
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != "runbook for customer ACME-SECRET-42" {
		t.Fatalf("decoded %q, %v", s, err)
	}

	again, err := c.Encode(in[:1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again[0].GetData(), enc[0].GetData()) {
		t.Fatal("two encryptions of the same payload are identical: the nonce is not random")
	}
}

func TestDataConverterRoundTrip(t *testing.T) {
	dc := mustParse(t, keyLine("k1", 1)).DataConverter()
	p, err := dc.ToPayload(struct{ Summary string }{"disk full on db-7"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.String(), "disk full") {
		t.Fatalf("payload from the data converter is readable: %v", p)
	}
	var out struct{ Summary string }
	if err := dc.FromPayload(p, &out); err != nil || out.Summary != "disk full on db-7" {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
}

func TestRotation(t *testing.T) {
	old := mustParse(t, keyLine("old", 1))
	rotated := mustParse(t, keyLine("new", 2), keyLine("old", 1))
	fromOld, err := old.Encode([]*commonpb.Payload{payload(t, "before rotation")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := rotated.Decode(fromOld)
	if err != nil {
		t.Fatalf("rotated key set does not decrypt the old key's payload: %v", err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != "before rotation" {
		t.Fatalf("decoded %q, %v", s, err)
	}
	fromNew, err := rotated.Encode([]*commonpb.Payload{payload(t, "after rotation")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(fromNew[0].GetMetadata()[codec.MetadataKeyID]); got != "new" {
		t.Fatalf("rotated key set encrypts with %q, want the first line's key \"new\"", got)
	}
	// The old key set alone cannot read what the new key wrote.
	if _, err := old.Decode(fromNew); err == nil || !strings.Contains(err.Error(), `encrypted with key "new", which is not in the encryption key file`) {
		t.Fatalf("old key set decoding a new payload: %v", err)
	}
}

func TestDecodeFailures(t *testing.T) {
	c := mustParse(t, keyLine("k1", 1))
	sameIDOtherKey := mustParse(t, keyLine("k1", 9))
	good := func() *commonpb.Payload {
		enc, err := c.Encode([]*commonpb.Payload{payload(t, "secret alert text")})
		if err != nil {
			t.Fatal(err)
		}
		return enc[0]
	}
	tests := []struct {
		name    string
		codec   *codec.Codec
		mutate  func(p *commonpb.Payload)
		wantErr string
	}{
		{name: "wrong key with the same id", codec: sameIDOtherKey, mutate: func(*commonpb.Payload) {},
			wantErr: `authentication with key "k1" failed`},
		{name: "flipped ciphertext bit", codec: c, mutate: func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 },
			wantErr: `authentication with key "k1" failed`},
		{name: "flipped nonce bit", codec: c, mutate: func(p *commonpb.Payload) { p.Data[0] ^= 1 },
			wantErr: `authentication with key "k1" failed`},
		{name: "truncated", codec: c, mutate: func(p *commonpb.Payload) { p.Data = p.Data[:10] }, wantErr: "data too short"},
		{name: "key id relabelled", codec: mustParse(t, keyLine("k1", 1), keyLine("k2", 1)),
			mutate:  func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k2") },
			wantErr: `authentication with key "k2" failed`},
		{name: "no key id", codec: c, mutate: func(p *commonpb.Payload) { delete(p.Metadata, codec.MetadataKeyID) },
			wantErr: "has no encryption-key-id metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			tc.mutate(p)
			_, err := tc.codec.Decode([]*commonpb.Payload{payload(t, "plain"), p})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "payload 1") {
				t.Fatalf("error = %v, want it to name payload 1 and contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, codec.ErrDecrypt) {
				t.Fatalf("error %v does not wrap ErrDecrypt", err)
			}
		})
	}
}

func TestDecodePassesUnencryptedThrough(t *testing.T) {
	c := mustParse(t, keyLine("k1", 1))
	in := []*commonpb.Payload{payload(t, "written before encryption"), payload(t, []byte{1, 2}), payload(t, nil),
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/zlib")}, Data: []byte{9}}}
	out, err := c.Decode(in)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("payload %d changed: %v -> %v", i, in[i], out[i])
		}
	}
	var s string
	if err := c.DataConverter().FromPayload(in[0], &s); err != nil || s != "written before encryption" {
		t.Fatalf("data converter on an unencrypted payload: %q, %v", s, err)
	}
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	dc := mustParse(t, keyLine("k1", 1)).DataConverter()
	fc := codec.FailureConverter(dc)
	f := fc.ErrorToFailure(temporal.NewApplicationError("slack: 400 from hooks.example for alert ACME-SECRET-42", "http"))
	if strings.Contains(f.String(), "ACME-SECRET-42") {
		t.Fatalf("failure carries the message in plain text: %v", f)
	}
	err := fc.FailureToError(f)
	if err == nil || !strings.Contains(err.Error(), "ACME-SECRET-42") {
		t.Fatalf("decoded failure = %v, want the original message", err)
	}
}
