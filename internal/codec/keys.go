// Package codec encrypts Temporal payloads at rest with AES-256-GCM: a
// converter.PayloadCodec used by every Herald client, the key file it reads
// (with key rotation), and the remote codec HTTP endpoint the Temporal Web
// UI uses to show encrypted payloads.
package codec

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// maxKeyIDLen bounds a key id: it is stored in every payload's metadata.
const maxKeyIDLen = 64

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// key is one parsed line of the key file.
type key struct {
	id   string
	aead cipher.AEAD
}

// ParseKeys reads a key file: one key per line as `key-id:base64-of-32-bytes`,
// blank lines and lines starting with # ignored. The first key encrypts;
// every key decrypts. Errors name the line, never the key material.
func ParseKeys(r io.Reader) (*Codec, error) {
	var keys []key
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[k.id]; dup {
			return nil, fmt.Errorf("line %d: key id %q is already used on line %d", n, k.id, first)
		}
		seen[k.id] = n
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys: expected lines of key-id:base64-of-32-bytes")
	}
	return newCodec(keys), nil
}

func parseLine(line string) (key, error) {
	id, material, ok := strings.Cut(line, ":")
	if !ok {
		return key{}, errors.New("expected key-id:base64-of-32-bytes (no colon found)")
	}
	id, material = strings.TrimSpace(id), strings.TrimSpace(material)
	switch {
	case id == "":
		return key{}, errors.New("empty key id before the colon")
	case len(id) > maxKeyIDLen:
		return key{}, fmt.Errorf("key id is %d characters long, at most %d allowed", len(id), maxKeyIDLen)
	case !keyIDPattern.MatchString(id):
		return key{}, fmt.Errorf("key id %q may only contain letters, digits, '.', '_' and '-'", id)
	}
	raw, err := base64.StdEncoding.DecodeString(material)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(material)
	}
	if err != nil {
		return key{}, fmt.Errorf("key %q is not valid standard base64", id)
	}
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("key %q decodes to %d bytes, AES-256 needs exactly %d", id, len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return key{id: id, aead: aead}, nil
}

// LoadFile reads the key file at path (see ParseKeys).
func LoadFile(path string) (*Codec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	defer f.Close()
	c, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return c, nil
}
