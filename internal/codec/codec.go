package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// Encoding marks an encrypted payload (metadata "encoding").
	Encoding = "binary/encrypted"
	// MetadataKeyID names the metadata entry holding the id of the key a
	// payload was encrypted with.
	MetadataKeyID = "encryption-key-id"
	// aadPrefix is authenticated with every payload, together with the key
	// id, so a payload cannot be relabelled with another key id unnoticed.
	aadPrefix = "herald-payload-v1:"
)

// ErrDecrypt is wrapped by every error about an encrypted payload that
// cannot be decrypted (unknown key id, wrong key, tampered data).
var ErrDecrypt = errors.New("cannot decrypt payload")

// Codec is an AES-256-GCM converter.PayloadCodec. Encode encrypts the whole
// payload (data and metadata) with the first key of the key file and a
// random nonce; Decode decrypts with the key named in the payload and
// passes payloads that are not encrypted through unchanged.
type Codec struct {
	encrypt key
	keys    map[string]cipher.AEAD
	ids     []string
}

var _ converter.PayloadCodec = (*Codec)(nil)

func newCodec(keys []key) *Codec {
	c := &Codec{encrypt: keys[0], keys: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		c.keys[k.id] = k.aead
		c.ids = append(c.ids, k.id)
	}
	return c
}

// EncryptKeyID is the id of the key new payloads are encrypted with.
func (c *Codec) EncryptKeyID() string { return c.encrypt.id }

// KeyIDs are the ids of every key that decrypts, in file order (the
// encrypting key first).
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload %d: marshal: %w", i, err)
		}
		aead := c.encrypt.aead
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload %d: nonce: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.encrypt.id),
			},
			Data: aead.Seal(nonce, nonce, plain, aad(c.encrypt.id)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		dec, err := c.decrypt(p)
		if err != nil {
			return nil, fmt.Errorf("payload %d: %w", i, err)
		}
		out[i] = dec
	}
	return out, nil
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	if id == "" {
		return nil, fmt.Errorf("%w: encrypted payload has no %s metadata", ErrDecrypt, MetadataKeyID)
	}
	aead, ok := c.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: encrypted with key %q, which is not in the encryption key file", ErrDecrypt, id)
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: encrypted with key %q: data too short (%d bytes)", ErrDecrypt, id, len(data))
	}
	nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, aad(id))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication with key %q failed: the key is not the one it was encrypted with, or the data was altered", ErrDecrypt, id)
	}
	dec := &commonpb.Payload{}
	if err := proto.Unmarshal(plain, dec); err != nil {
		return nil, fmt.Errorf("%w: decrypted data is not a payload: %v", ErrDecrypt, err)
	}
	return dec, nil
}

func aad(keyID string) []byte { return []byte(aadPrefix + keyID) }

// DataConverter is the default data converter with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter encodes failure messages and stack traces through dc,
// so delivery errors are encrypted too.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter: dc, EncodeCommonAttributes: true,
	})
}
